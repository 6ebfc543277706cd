// Small progressive enhancements; every page works without this file.
document.addEventListener("htmx:responseError", (event) => {
  const status = event.detail.xhr.status;
  const banner = document.getElementById("live-error");
  if (banner) banner.textContent = `Live update failed (HTTP ${status}); the page will keep trying.`;
});
