// The Precision view: GET /diagnostics/precision, what int8 or bf16 costs a served model block by block,
// shown as the server's chart.
import { busy, svg } from "./api.js";
import { show } from "./charts.js";

export function setUp() {
  const form = document.getElementById("precision-form");
  const status = document.getElementById("precision-status");
  const chart = document.getElementById("precision-chart");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const query = new URLSearchParams({ model: form.model.value, input: form.input.value, batch: form.batch.value,
                                        seed: form.seed.value, precision: form.precision.value, format: "svg" });
    busy(form.querySelector("button[type=submit]"), status, "running both precisions…",
         async () => show(chart, await svg(`/diagnostics/precision?${query}`)));
  });
}
