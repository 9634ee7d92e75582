// The login page: POST /api/session as JSON (a cross-site form cannot send JSON without
// the browser asking first), then on to the dashboard, whose session cookie is now set.
"use strict";

document.getElementById("login").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const error = document.getElementById("error");
  error.textContent = "";
  const r = await fetch("/api/session", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({
      user: document.getElementById("user").value,
      password: document.getElementById("password").value,
    }),
  });
  if (r.ok) {
    window.location.assign("/");
    return;
  }
  const body = await r.json().catch(() => ({}));
  error.textContent = body.detail || `log in failed (${r.status})`;
});
