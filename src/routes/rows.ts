import { router } from "../context";

export const rowRoutes = router();
