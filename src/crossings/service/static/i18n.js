// English is the source language; other languages come from the server's gettext catalogue.
window.crossingsI18n = {
  lang: localStorage.getItem("crossings-lang") || (navigator.language || "en").slice(0, 2),
  messages: {},
  async load() {
    if (this.lang === "en") return;
    try {
      const reply = await fetch(`/api/i18n/${this.lang}`);
      if (reply.ok) this.messages = await reply.json();
    } catch (e) { /* offline: keep English */ }
  },
  set(lang) { localStorage.setItem("crossings-lang", lang); location.reload(); },
};
window.t = (text) => window.crossingsI18n.messages[text] || text;
window.translatePage = () => {
  for (const node of document.querySelectorAll("[data-t]")) node.textContent = t(node.dataset.t);
  for (const node of document.querySelectorAll("[data-t-placeholder]")) node.placeholder = t(node.dataset.tPlaceholder);
  document.documentElement.lang = window.crossingsI18n.lang;
};
