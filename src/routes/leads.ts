import { router } from "../context";

export const leadRoutes = router();
