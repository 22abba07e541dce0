// /docs: Swagger UI from the swagger-ui-bundle package, served by this server (no CDN; the CSP allows only 'self').
// With a token, /openapi.json and every /api/ call need it: the schema is fetched with the token the dashboard
// stored (or one typed here) and Swagger's Authorize dialog holds it for "Try it out".
(() => {
  "use strict";
  const KEY = "policylab-token";
  const form = document.getElementById("token-form");
  const field = document.getElementById("token");
  const problem = document.getElementById("token-error");

  async function schema(token) {
    const headers = token ? {Authorization: "Bearer " + token} : {};
    const response = await fetch("/openapi.json", {headers});
    if (response.status === 401) return null;
    if (!response.ok) throw new Error(`/openapi.json answered ${response.status}`);
    return response.json();
  }

  function show(spec, token) {
    form.hidden = true;
    const ui = SwaggerUIBundle({spec, dom_id: "#swagger-ui", deepLinking: true, tryItOutEnabled: false});
    if (token && spec.components && spec.components.securitySchemes && spec.components.securitySchemes.bearer) {
      ui.preauthorizeApiKey("bearer", token);
    }
    window.policylabDocs = ui;
  }

  async function start(token) {
    const spec = await schema(token);
    if (spec) { show(spec, token); return; }
    if (token) problem.textContent = "That token is not this server's.";
    form.hidden = false;
    field.focus();
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const token = field.value.trim();
    sessionStorage.setItem(KEY, token);
    problem.textContent = "";
    start(token).catch((error) => { problem.textContent = String(error.message || error); });
  });

  const required = document.querySelector('meta[name="policylab-token"]').content === "required";
  const stored = sessionStorage.getItem(KEY);
  if (required && !stored) { form.hidden = false; field.focus(); return; }
  start(required ? stored : null).catch((error) => { problem.textContent = String(error.message || error); form.hidden = false; });
})();
