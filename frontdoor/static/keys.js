// The keys panel (admins only, as the whole dashboard): each key with its policy, today's figures,
// budget bars and last use; a form that makes a key and shows its secret once; revocation.
// Every string reaches the page as text (dom.js): a key's name is the client's, not ours.

import { KeyedList, byId, el, fill, fmtAgo, fmtCompact, fmtInt, levelClass, ratio, setText, truncate } from "./dom.js";

const INT_FIELDS = ["rpm", "tpm", "max_concurrent", "daily_tokens", "weekly_tokens", "monthly_tokens"];
const FLOAT_FIELDS = ["weight", "monthly_cost_usd"];

/** "60 rpm · 100k tpm · sonnet · pools api · weight 2 · expires 2026-07-01", or "no limits". */
export function policySummary(policy) {
  const parts = [];
  if (policy.rpm) parts.push(`${fmtInt(policy.rpm)} rpm`);
  if (policy.tpm) parts.push(`${fmtCompact(policy.tpm)} tpm`);
  if (policy.max_concurrent) parts.push(`${fmtInt(policy.max_concurrent)} at once`);
  if (Array.isArray(policy.models) && policy.models.length) parts.push(policy.models.join("/"));
  if (Array.isArray(policy.pools) && policy.pools.length) parts.push(`pools ${policy.pools.join("+")}`);
  if (policy.weight && policy.weight !== 1) parts.push(`weight ${policy.weight}`);
  if (policy.expires_at) parts.push(`expires ${new Date(policy.expires_at * 1000).toISOString().slice(0, 10)}`);
  return parts.length ? parts.join(" · ") : "no limits";
}

const money = (v) => `$${(Number(v) || 0).toFixed(2)}`;

function budgetBar(budget) {
  const usd = budget.unit === "usd";
  const f = ratio(budget.used, budget.limit);
  const fillNode = el("div", { class: `lbar-fill ${levelClass(f)}` });
  fillNode.style.width = `${Math.min(100, Math.round(f * 100))}%`; // CSSOM: allowed by the CSP
  const value = usd ? `${money(budget.used)}/${money(budget.limit)}` : `${fmtCompact(budget.used)}/${fmtCompact(budget.limit)}`;
  return el(
    "div",
    { class: "lbar", "data-period": budget.period, "data-unit": budget.unit },
    el("span", { class: "lbar-k", text: `${budget.period}${usd ? " $" : ""}` }),
    el("div", { class: "lbar-track" }, fillNode),
    el("span", { class: "lbar-v", text: value, title: `${Math.round(f * 100)}% of this ${budget.period}'s budget` }),
  );
}

/** The form's values as the body of POST /admin/keys (API.md "Keys"): empty fields are no limit. */
export function formBody(form) {
  const data = new FormData(form);
  const policy = {};
  for (const name of INT_FIELDS) {
    const raw = String(data.get(name) || "").trim();
    if (raw) policy[name] = Math.round(Number(raw));
  }
  for (const name of FLOAT_FIELDS) {
    const raw = String(data.get(name) || "").trim();
    if (raw) policy[name] = Number(raw);
  }
  const models = data.getAll("models").map(String);
  const pools = data.getAll("pools").map(String);
  if (models.length) policy.models = models;
  if (pools.length) policy.pools = pools;
  const expires = String(data.get("expires") || "");
  if (expires) policy.expires_at = `${expires}T00:00:00Z`;
  return {
    name: String(data.get("name") || "").trim(),
    role: String(data.get("role") || "client"),
    for_another_person: data.get("for_another_person") !== null,
    policy,
  };
}

export class KeysPanel {
  /** onCreate(body) -> {key, secret}; onRevoke(key, button). */
  constructor({ onCreate, onRevoke }) {
    this.onCreate = onCreate;
    this.onRevoke = onRevoke;
    this.body = byId("keys-body");
    this.form = byId("key-form");
    this.tbody = el("tbody");
    this.empty = el("p", { class: "muted small", text: "no keys yet: every client uses PROXY_AUTH_TOKEN" });
    const heads = ["name", "role", "key", "policy", "today", "budgets", "now", "last used", ""];
    this.table = el(
      "table",
      { class: "tbl keys" },
      el("thead", {}, el("tr", {}, heads.map((h) => el("th", { text: h })))),
      this.tbody,
    );
    this.list = new KeyedList(this.tbody, (k) => k.id, () => this.make());
    this.wire();
  }

  wire() {
    byId("keys-new").addEventListener("click", () => this.openForm(this.form.hidden));
    byId("key-form-cancel").addEventListener("click", () => this.openForm(false));
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    const other = this.form.elements.namedItem("for_another_person");
    const cli = byId("kf-pool-cli");
    other.addEventListener("change", () => {
      // README, "Account terms": subscription accounts serve the owner's own tools only.
      cli.disabled = other.checked;
      if (other.checked) cli.checked = false;
    });
    byId("key-secret-copy").addEventListener("click", () => this.copySecret());
    byId("key-secret-done").addEventListener("click", () => this.hideSecret());
  }

  openForm(open) {
    this.form.hidden = !open;
    this.formError("");
    if (open) this.form.elements.namedItem("name").focus();
  }

  formError(message) {
    const node = byId("key-form-error");
    node.hidden = !message;
    setText(node, message);
  }

  async submit() {
    const button = this.form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const { key, secret } = await this.onCreate(formBody(this.form));
      this.form.reset();
      byId("kf-pool-cli").disabled = false;
      this.openForm(false);
      this.showSecret(key.name, secret);
    } catch (err) {
      this.formError(err.message);
    } finally {
      button.disabled = false;
    }
  }

  showSecret(name, secret) {
    setText(byId("key-secret-title"), `Key “${truncate(name, 60)}” created.`);
    setText(byId("key-secret-value"), secret);
    setText(byId("key-secret-copy"), "Copy");
    byId("key-secret").hidden = false;
  }

  hideSecret() {
    byId("key-secret").hidden = true;
    setText(byId("key-secret-value"), ""); // the secret leaves the page
  }

  async copySecret() {
    const button = byId("key-secret-copy");
    try {
      await navigator.clipboard.writeText(byId("key-secret-value").textContent);
      setText(button, "Copied");
    } catch {
      getSelection().selectAllChildren(byId("key-secret-value"));
      setText(button, "Selected: press Ctrl+C");
    }
  }

  make() {
    const cells = Array.from({ length: 8 }, () => el("td"));
    const revoke = el("button", { type: "button", class: "btn btn-small btn-danger", text: "Revoke" });
    revoke.addEventListener("click", () => this.onRevoke(this.keysById.get(revoke.dataset.id), revoke));
    const node = el("tr", {}, cells, el("td", { class: "num" }, revoke));
    return { node, update: (k) => this.update(node, cells, revoke, k) };
  }

  update(node, cells, revoke, k) {
    node.dataset.key = k.name;
    revoke.dataset.id = k.id;
    fill(cells[0], el("b", { text: truncate(k.name, 40), title: `${k.name} (${k.id})` }), k.forOwner ? null : el("span", { class: "tag tag-other", text: "other person" }));
    fill(cells[1], el("span", { class: `tag ${k.role === "admin" ? "tag-admin" : ""}`, text: k.role }));
    setText(cells[2], k.prefix ? `${k.prefix}…` : "–");
    cells[2].className = "mono";
    setText(cells[3], policySummary(k.policy));
    cells[3].className = "k-policy";
    const cost = k.today.cost ? ` · ${money(k.today.cost)}` : "";
    setText(cells[4], `${fmtCompact(k.today.tokens)} tok · ${fmtInt(k.today.requests)} req${cost}`);
    cells[4].title = `${fmtInt(k.today.tokens)} tokens, ${fmtInt(k.today.requests)} requests, ${fmtInt(k.today.errors)} errors today (UTC)`;
    cells[4].className = "k-today";
    fill(cells[5], k.budgets.length ? el("div", { class: "k-budgets" }, k.budgets.map(budgetBar)) : el("span", { class: "muted", text: "no budget" }));
    const load = this.load.get(k.id);
    const busy = load && (load.running || load.queued);
    setText(cells[6], busy ? `${fmtInt(load.running)} running · ${fmtInt(load.queued)} queued` : "idle");
    cells[6].className = busy ? "k-now" : "k-now muted";
    setText(cells[7], fmtAgo(k.lastUsedAt));
    cells[7].className = "muted";
  }

  /** data: GET /admin/keys normalised (null: unavailable); load: running and queued by key id. */
  render(data, load) {
    this.load = load || new Map();
    if (!data) {
      this.list.sync([]);
      setText(byId("keys-summary"), "");
      fill(this.body, el("p", { class: "unavailable", text: "keys unavailable" }));
      return;
    }
    const keys = data.keys.slice().sort((a, b) => a.name.localeCompare(b.name));
    this.keysById = new Map(keys.map((k) => [k.id, k]));
    this.list.sync(keys);
    const want = keys.length ? this.table : this.empty;
    if (this.body.firstChild !== want || this.body.childNodes.length !== 1) this.body.replaceChildren(want);
    const admins = keys.filter((k) => k.role === "admin").length;
    setText(byId("keys-summary"), keys.length ? `${keys.length} key${keys.length === 1 ? "" : "s"} · ${admins} admin` : "");
  }
}
