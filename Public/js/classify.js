// The Classify view: an image from a file, a drop or the shipped samples, sent as
// `PUT /predictions/{model}` (what `curl -T image.png` sends), answered as top-k bars.
import { busy, json, request, showError } from "./api.js";
import { loadModels } from "./models.js";

let chosen = null;  // { blob, name }

export async function setUp() {
  const form = document.getElementById("classify-form");
  const samples = await json("samples/index.json");
  form.sample.append(...samples.map((s) => new Option(s.label, s.file)));
  form.sample.addEventListener("change", async () => {
    if (!form.sample.value) return;
    const blob = await (await request(`samples/${form.sample.value}`)).blob();
    choose(blob, form.sample.value);
  });
  form.file.addEventListener("change", () => {
    if (form.file.files[0]) choose(form.file.files[0], form.file.files[0].name);
  });
  const zone = document.getElementById("drop-zone");
  zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    const file = event.dataTransfer.files[0];
    if (file) choose(file, file.name);
  });
  zone.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") { event.preventDefault(); form.file.click(); }
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!chosen) { showError("choose an image first: a file, a drop, or a shipped sample"); return; }
    busy(form.querySelector("button"), null, "", () => classify(form.model.value, Number(form.topk.value)));
  });
}

function choose(blob, name) {
  chosen = { blob, name };
  const image = document.getElementById("classify-image");
  image.src = URL.createObjectURL(blob);
  image.alt = name;
  image.hidden = false;
  document.getElementById("classify-result").replaceChildren();
  document.getElementById("classify-time").textContent = "";
}

async function classify(model, topk) {
  const start = performance.now();
  const result = await json(`/predictions/${encodeURIComponent(model)}?topk=${topk}`, { method: "PUT", body: chosen.blob });
  const elapsed = performance.now() - start;
  const list = document.getElementById("classify-result");
  list.replaceChildren(...result.predictions.map((p) => {
    const li = document.createElement("li");
    const label = document.createElement("span");
    label.className = "label";
    label.textContent = p.label;
    const bar = document.createElement("div");
    bar.className = "bar";
    bar.style.width = `${(p.probability * 100).toFixed(1)}%`;
    const track = document.createElement("div");
    track.append(bar);
    const value = document.createElement("span");
    value.className = "value";
    value.textContent = `${(p.probability * 100).toFixed(1)}%`;
    li.append(label, track, value);
    return li;
  }));
  document.getElementById("classify-time").textContent =
    `${result.model} · ${elapsed.toFixed(1)} ms in the browser (decode, preprocessing and forward pass on the server included)`;
  // The models view shows each model's recent queue and pass times: this request is one of them.
  await loadModels();
}
