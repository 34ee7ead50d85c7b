// Renders /openapi.json with Swagger UI (swagger-ui-dist, served from this server).
// validatorUrl: null turns off the badge that would send the document to an online validator.
window.SwaggerUIBundle({
  url: '/openapi.json',
  dom_id: '#swagger-ui',
  validatorUrl: null,
  deepLinking: false,
});
