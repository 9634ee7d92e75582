// The API docs page: Swagger UI over /openapi.json, from files served by crowdsafe itself.
// A file, not an inline script, so the page obeys the site's Content-Security-Policy;
// no validator badge, which would load an image from the internet.
"use strict";

window.addEventListener("load", () => {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
