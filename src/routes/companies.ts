import { router } from "../context";

export const companyRoutes = router();
