// Small progressive enhancements; every page works without this file.
document.addEventListener("htmx:responseError", (event) => {
  const status = event.detail.xhr.status;
  const banner = document.getElementById("live-error");
  if (banner) banner.textContent = `Live update failed (HTTP ${status}); the page will keep trying.`;
});

// Inline handlers are not allowed under the Content-Security-Policy: a select
// marked data-autosubmit submits its form when it changes.
document.addEventListener("change", (event) => {
  if (event.target.matches && event.target.matches("select[data-autosubmit]")) event.target.form.requestSubmit();
});

// Polling that only makes sense while someone looks (htmx's trigger filters
// would need eval): skip the request while the tab is hidden.
document.addEventListener("htmx:beforeRequest", (event) => {
  if (document.visibilityState !== "visible" && event.detail.elt.hasAttribute("data-poll-when-visible")) {
    event.preventDefault();
  }
});
