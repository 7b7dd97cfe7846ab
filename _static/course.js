// The course book's small fixes to its theme (loaded on every page from _static).
//
// Phone-width navigation: pydata-sphinx-theme 0.17.1 and sphinx-book-theme 1.3.0 attach
// their sidebar handlers to the FIRST .primary-toggle / .secondary-toggle of the page only,
// which is pydata's navbar button, hidden in this layout; the visible header buttons of
// sphinx-book-theme get no handler, so at 390 px the sidebar never opens
// (pydata-sphinx-theme issue 2451). Forward their clicks to the button that works.
window.addEventListener("DOMContentLoaded", () => {
  for (const selector of [".primary-toggle", ".secondary-toggle"]) {
    const [bound, ...others] = document.querySelectorAll(selector);
    if (!bound) continue;
    for (const button of others) {
      button.addEventListener("click", (event) => {
        event.preventDefault();
        event.stopPropagation();
        bound.click();
      });
    }
  }
});
