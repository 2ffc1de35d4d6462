// Shows a chart the server drew (nfserve's one plotting module renders every chart as SVG)
// and makes it interactive: a legend item toggles its series in every panel, and hovering or
// focusing a point shows its values (from the point's <title>) in the readout below.

export function show(container, svgText) {
  container.innerHTML = svgText;
  const svg = container.querySelector("svg");
  if (!svg) return;
  const readout = container.parentElement.querySelector(".readout");
  for (const item of svg.querySelectorAll(".legend-item")) {
    item.setAttribute("tabindex", "0");
    item.setAttribute("role", "button");
    const toggle = () => {
      const off = item.classList.toggle("off");
      item.setAttribute("aria-pressed", String(!off));
      for (const group of svg.querySelectorAll(`.series[data-series="${CSS.escape(item.dataset.series)}"]`)) {
        group.style.display = off ? "none" : "";
      }
    };
    item.addEventListener("click", toggle);
    item.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") { event.preventDefault(); toggle(); }
    });
  }
  if (readout) {
    svg.addEventListener("mouseover", (event) => {
      const title = event.target.closest("circle")?.querySelector("title");
      if (title) readout.textContent = title.textContent;
    });
  }
}
