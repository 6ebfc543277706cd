// Small progressive enhancements; every page works without this file.
document.addEventListener("htmx:responseError", (event) => {
  const status = event.detail.xhr.status;
  const banner = document.getElementById("live-error");
  if (banner) banner.textContent = `Live update failed (HTTP ${status}); the page will keep trying.`;
});

// A page restored from the back-forward cache shows the state from before a
// decision was taken elsewhere: pages that change ask the server again.
window.addEventListener("pageshow", (event) => {
  if (event.persisted && document.querySelector("[data-fresh-on-back]")) window.location.reload();
});

// Filters that apply as soon as they change (no inline handlers: the CSP forbids them).
document.addEventListener("change", (event) => {
  if (event.target.matches("[data-autosubmit]") && event.target.form) event.target.form.submit();
});

// The trace's step panel closes with its × button or Escape.
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-close-panel]");
  if (button) document.getElementById("step-panel").replaceChildren();
});
document.addEventListener("keydown", (event) => {
  const panel = document.getElementById("step-panel");
  if (event.key === "Escape" && panel && panel.childElementCount) panel.replaceChildren();
});
