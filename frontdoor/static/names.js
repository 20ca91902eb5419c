// How the dashboard names workers and model families. No imports and no DOM: the unit tests
// run this module in node to hold it to the Python side (common/models.py `model_family`).

/** The model families, in display order; the same list as common/models.py FAMILIES. */
export const FAMILIES = ["opus", "sonnet", "haiku", "fable"];

/** The family of a model id, as `common.models.model_family` decides it: the first family
 * named in the id, else "other". */
export function familyOf(model) {
  const m = String(model ?? "");
  return FAMILIES.find((f) => m.includes(f)) || "other";
}

/** A worker's name as the page shows it: numbered workers (the default names 1, 2, ...) as
 * "W1", any other name as it is (a worker named "w1" stays "w1", never "Ww1"). */
export function workerLabel(name) {
  const s = String(name ?? "");
  return /^[0-9]+$/.test(s) ? `W${s}` : s;
}
