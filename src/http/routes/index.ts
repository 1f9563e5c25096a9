// The route table: a family of routes is one file in this directory and one line here.
import type { MediaRoute } from "../context.js";
import { adminRoutes } from "./admin.js";
import { adminUserRoutes } from "./admin-users.js";
import { configRoutes } from "./config.js";
import { downloadRoutes } from "./download.js";
import { federationRoutes } from "./federation.js";
import { thumbnailRoutes } from "./thumbnail.js";
import { uploadRoutes } from "./upload.js";

/** @internal */
export const MEDIA_ROUTES: readonly MediaRoute[] = [
  ...configRoutes,
  ...downloadRoutes,
  ...thumbnailRoutes,
  ...uploadRoutes,
  ...adminRoutes,
  ...adminUserRoutes,
  ...federationRoutes,
];
