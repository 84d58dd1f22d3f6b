// Summit Assistant chat widget. A host page adds one tag:
//   <script src="https://CHAT-HOST/widget.js" async></script>
// (optionally data-lang="fr"; default: the host page's <html lang>). It shows a chat
// bubble that opens the chat page in a frame; the frame is allowed only on the origins of
// WEB_ALLOWED_ORIGINS (CSP frame-ancestors). Escape inside the chat closes it.
"use strict";
(function () {
  const script = document.currentScript;
  if (!script || window.summitChatWidget) return;
  const base = new URL(".", script.src);
  const lang = (script.dataset.lang || document.documentElement.lang || "").slice(0, 2);
  const svg = "http://www.w3.org/2000/svg";
  const labels = { open: "Summit Assistant", close: "Summit Assistant" };

  const css = document.createElement("link");
  css.rel = "stylesheet";
  css.href = new URL("static/widget.css", base).href;
  document.head.append(css);

  const bubble = document.createElement("button");
  bubble.type = "button";
  bubble.className = "summit-chat-bubble";
  bubble.setAttribute("aria-expanded", "false");
  bubble.setAttribute("aria-controls", "summit-chat-frame");
  bubble.setAttribute("aria-label", "Summit Assistant");
  const icon = document.createElementNS(svg, "svg");
  icon.setAttribute("viewBox", "0 0 24 24");
  icon.setAttribute("aria-hidden", "true");
  const path = document.createElementNS(svg, "path");
  path.setAttribute("d", "M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V5" +
                         "a2 2 0 0 1 2-2zm3 6.5a1.5 1.5 0 1 0 0 .01zm5 0a1.5 1.5 0 1 0 0 .01z" +
                         "m5 0a1.5 1.5 0 1 0 0 .01z");
  icon.append(path);
  bubble.append(icon);

  const frame = document.createElement("iframe");
  frame.id = "summit-chat-frame";
  frame.className = "summit-chat-frame";
  frame.title = "Summit Assistant";
  frame.hidden = true;

  function open() {
    if (!frame.src) {
      const page = new URL(base.href);
      page.searchParams.set("embed", "1");
      if (lang) page.searchParams.set("lang", lang);
      frame.src = page.href;
    }
    frame.hidden = false;
    bubble.setAttribute("aria-expanded", "true");
    bubble.setAttribute("aria-label", labels.close);
    frame.focus();
  }

  function close() {
    frame.hidden = true;
    bubble.setAttribute("aria-expanded", "false");
    bubble.setAttribute("aria-label", labels.open);
    bubble.focus();
  }

  bubble.addEventListener("click", () => (frame.hidden ? open() : close()));
  window.addEventListener("message", (event) => {
    if (event.origin === base.origin && event.data && event.data.type === "summit-chat-close") {
      close();
    }
  });
  // Labels in the page's language (works where the chat allows this origin: CORS).
  fetch(new URL("api/ui?lang=" + encodeURIComponent(lang), base))
    .then((response) => response.json())
    .then((data) => {
      labels.open = data.strings.open;
      labels.close = data.strings.close;
      bubble.setAttribute("aria-label", frame.hidden ? labels.open : labels.close);
      frame.title = data.strings.title;
    })
    .catch(() => {});

  function mount() {
    document.body.append(frame, bubble);
  }
  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount);
  window.summitChatWidget = { open: open, close: close };
})();
