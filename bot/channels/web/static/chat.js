// Summit Assistant web chat: the page's behaviour. Plain JavaScript, no dependencies.
// Every text from the server (answers, labels, the user's own words) is shown with
// textContent, never parsed as HTML; emergency numbers become tel: links.
"use strict";
(function () {
  const MAX_TEXT = 2000;  // the server refuses longer messages with 413
  const $ = (id) => document.getElementById(id);
  const params = new URLSearchParams(location.search);
  const embedded = params.get("embed") === "1";
  const log = $("log");
  const form = $("form");
  const input = $("text");
  const send = $("send");
  const status = $("status");
  const select = $("lang");
  const supported = Array.from(select.options, (o) => o.value);
  let ui = null;
  let busy = false;

  function api(path) {
    return new URL("api/" + path, document.baseURI).toString();
  }

  async function call(method, path, body) {
    const init = { method: method, credentials: "same-origin", headers: {} };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(api(path), init);
    const data = await response.json().catch(() => null);
    if (!response.ok) {
      const error = new Error("HTTP " + response.status);
      error.status = response.status;
      error.retry = response.headers.get("Retry-After");
      throw error;
    }
    return data;
  }

  function t(key, values) {
    let text = (ui && ui.strings[key]) || key;
    for (const name in values || {}) text = text.split("{" + name + "}").join(String(values[name]));
    return text;
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function telLink(tel, text, label) {
    const link = el("a", "", text);
    if (/^[0-9+*#]+$/.test(tel)) link.href = "tel:" + tel;
    if (label) link.title = label;
    return link;
  }

  function applyUi(data) {
    ui = data;
    const root = document.documentElement;
    root.lang = data.lang;
    root.dir = data.dir;
    document.title = data.strings.title;
    $("title").textContent = data.strings.title;
    $("subtitle").textContent = data.strings.subtitle;
    $("disclaimer").textContent = data.strings.disclaimer;
    $("emergency-label").textContent = data.strings.emergency;
    $("numbers").replaceChildren(...data.numbers.map((n) => telLink(n.tel, n.text, n.label)));
    $("lang-label").textContent = data.strings.language;
    $("text-label").textContent = data.strings.input;
    log.setAttribute("aria-label", data.strings.log);
    input.placeholder = data.strings.placeholder;
    send.textContent = data.strings.send;
    select.value = data.lang;
    for (const node of log.querySelectorAll(".who-user")) node.textContent = t("you");
    for (const node of log.querySelectorAll(".who-bot")) node.textContent = t("bot");
    for (const node of log.querySelectorAll(".choices")) node.setAttribute("aria-label", t("options"));
  }

  function show(node) {
    log.append(node);
    node.scrollIntoView({ block: "end" });
    return node;
  }

  function addUser(text) {
    const item = el("li", "msg user");
    item.dir = "auto";
    item.append(el("span", "sr-only who-user", t("you") + " "), el("p", "", text));
    return show(item);
  }

  function addBot(reply) {
    const item = el("li", "msg bot");
    if (/^[a-z]+$/.test(reply.intent)) item.classList.add(reply.intent);  // styles emergency, health
    item.lang = reply.lang;
    item.dir = reply.dir;
    item.append(el("span", "sr-only who-bot", t("bot") + " "));
    for (const line of reply.lines) {
      if (!line.some((segment) => segment.text.trim())) continue;
      const paragraph = el("p");
      for (const segment of line) {
        paragraph.append(segment.tel ? telLink(segment.tel, segment.text)
                                     : document.createTextNode(segment.text));
      }
      item.append(paragraph);
    }
    if (reply.choices.length) {
      const group = el("div", "choices");
      group.setAttribute("role", "group");
      group.setAttribute("aria-label", t("options"));
      for (const choice of reply.choices) {
        const button = el("button", "choice", choice.label);
        button.type = "button";
        button.dataset.id = choice.id;
        button.addEventListener("click", () => choose(choice));
        group.append(button);
      }
      item.append(group);
    }
    return show(item);
  }

  function setBusy(value) {
    busy = value;
    send.disabled = value;
    log.setAttribute("aria-busy", value ? "true" : "false");
  }

  function explain(error) {
    if (error.status === 413) return t("too_long", { limit: MAX_TEXT });
    if (error.status === 429) return t("too_many", { seconds: error.retry || "60" });
    if (error.status === undefined) return t("offline");
    return t("error");
  }

  // Send one request whose answer is a reply; returns true when it was shown.
  async function exchange(path, body) {
    setBusy(true);
    status.textContent = "";
    try {
      const data = await call("POST", path, body);
      addBot(data.reply);
      if (data.ui) applyUi(data.ui);  // the user chose a language by writing it
      return true;
    } catch (error) {
      status.textContent = explain(error);
      return false;
    } finally {
      setBusy(false);
    }
  }

  async function choose(choice) {
    if (busy) return;
    const shown = addUser(choice.label);
    if (!(await exchange("choices", { id: choice.id }))) shown.remove();
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = input.value;
    if (busy || !text.trim()) return;
    if (text.length > MAX_TEXT) {
      status.textContent = t("too_long", { limit: MAX_TEXT });
      return;
    }
    input.value = "";
    const shown = addUser(text);
    if (!(await exchange("messages", { text: text }))) {
      shown.remove();  // not answered: give the words back to edit or resend
      input.value = text;
    }
    input.focus();
  });

  select.addEventListener("change", async () => {
    try {
      applyUi(await call("POST", "language", { lang: select.value }));
      status.textContent = "";
    } catch (error) {
      status.textContent = explain(error);
      if (ui) select.value = ui.lang;
    }
  });

  if (embedded) {
    document.documentElement.classList.add("embedded");
    // Escape closes the widget (widget.js listens on the host page); focus lands in the
    // input whenever the frame gets focus.
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && window.parent !== window) {
        window.parent.postMessage({ type: "summit-chat-close" }, "*");
      }
    });
    window.addEventListener("focus", () => input.focus());
  }

  async function start() {
    let conversation = { lang: null, messages: [] };
    try {
      conversation = await call("GET", "conversation");
    } catch (error) {
      status.textContent = explain(error);
    }
    const wanted = [conversation.lang, params.get("lang"),
                    ...(navigator.languages || [navigator.language])];
    const lang = wanted.map((l) => (l || "").slice(0, 2).toLowerCase())
                       .find((l) => supported.includes(l)) || "en";
    try {
      applyUi(await call("GET", "ui?lang=" + encodeURIComponent(lang)));
    } catch (error) {
      status.textContent = explain(error);
    }
    for (const entry of conversation.messages) {
      if (entry.role === "user") addUser(entry.text);
      else addBot(entry.reply);
    }
    if (!conversation.messages.length) await exchange("start", { lang: lang });
    document.body.dataset.ready = "true";
    if (!embedded) input.focus();
  }

  start();
})();
