// Stands in for ajv-formats in the Worker bundle: see ./ajv.ts.
export { addFormats as default } from "./ajv";
