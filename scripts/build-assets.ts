import { copyVendorAssets, PUBLIC_DIR } from "../src/vendor-assets";

// Run after install and before the Worker is built: fills public/ with the vendor files its pages load.
const copied = await copyVendorAssets();
if (copied.length > 0) console.log(`copied into ${PUBLIC_DIR}: ${copied.join(", ")}`);
