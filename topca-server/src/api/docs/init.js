// Starts Swagger UI on this server's API description. A file, not an inline
// script: the Content-Security-Policy allows scripts from this origin only.
"use strict";
window.ui = SwaggerUIBundle({
  url: "/api/v1/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
  // No badge from an outside validator: the page reaches this server only.
  validatorUrl: null,
});
