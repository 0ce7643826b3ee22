import { router } from "../context";

export const listRoutes = router();
