// The pages' behaviour, served as a file so the Content-Security-Policy allows
// no inline script. Each part acts only on a page that has its elements.
(() => {
  // "Back" links go back in the history (their href is the fallback).
  for (const link of document.querySelectorAll('a.back')) {
    link.addEventListener('click', event => { event.preventDefault(); history.back(); });
  }

  // Account search (a list with data-home; the RA's account page has its own
  // server-side search): matches (O or OU) appear as the user types, each
  // linking to data-home with the account's id.
  const box = document.getElementById('keyword'), list = document.querySelector('ul#accounts[data-home]');
  if (box && list) {
    let pending = 0;
    box.addEventListener('input', async () => {
      const ticket = ++pending, keyword = box.value.trim();
      if (!keyword) { list.replaceChildren(); return; }
      const response = await fetch('/api/v1/accounts?keyword=' + encodeURIComponent(keyword));
      const accounts = response.ok ? await response.json() : [];
      if (ticket !== pending) return;
      list.replaceChildren(...accounts.map(a => {
        const item = document.createElement('li'), link = document.createElement('a');
        link.href = list.dataset.home + '?account=' + a.id;
        link.textContent = (a.demo ? list.dataset.demo : '') + a.organization + ' / ' + a.unit;
        item.append(link); return item;
      }));
    });
  }

  // Pre-registration: a chosen CSV file fills the text box.
  const csvFile = document.getElementById('csv-file');
  if (csvFile) {
    csvFile.addEventListener('change', async event => {
      const file = event.target.files[0];
      if (file) document.getElementById('csv').value = await file.text();
    });
  }

  // Server certificate application: submit appears once the agreement is ticked.
  const agree = document.getElementById('agree'), submit = document.getElementById('submit');
  if (agree && submit) {
    agree.addEventListener('change', () => { submit.hidden = !agree.checked; });
  }

  /* pages-ra */
  // Bulk issuance: the chosen files (a CSV, or PEM requests) fill the text box,
  // one after another.
  const bulkFiles = document.getElementById('bulk-files');
  if (bulkFiles) {
    bulkFiles.addEventListener('change', async event => {
      const texts = await Promise.all([...event.target.files].map(file => file.text()));
      document.getElementById('bulk-text').value = texts.join('\n');
    });
  }
})();
