// The page's one way to the server: the same JSON and SVG endpoints a user calls with curl.
// A failed request throws an Error carrying the server's own message ({"error": "..."}).

export async function request(url, options = {}) {
  const response = await fetch(url, options);
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try {
      const body = await response.json();
      if (body && typeof body.error === "string") message = body.error;
    } catch (_) { /* not JSON: keep the status line */ }
    throw new Error(message);
  }
  return response;
}

export async function json(url, options) {
  return (await request(url, options)).json();
}

export async function svg(url, options = {}) {
  const headers = { Accept: "image/svg+xml", ...(options.headers || {}) };
  return (await request(url, { ...options, headers })).text();
}

const errorBox = () => document.getElementById("error");

/// Shows the server's message (or any error) at the top of the page.
export function showError(error) {
  const box = errorBox();
  box.textContent = error instanceof Error ? error.message : String(error);
  box.hidden = false;
}

export function clearError() {
  errorBox().hidden = true;
}

/// Runs `work` with `button` disabled and `status` saying what is going on; errors are shown.
export async function busy(button, status, text, work) {
  button.disabled = true;
  if (status) { status.textContent = text; status.classList.add("working"); }
  clearError();
  const start = performance.now();
  try {
    const result = await work();
    if (status) status.textContent = `done in ${((performance.now() - start) / 1000).toFixed(2)} s`;
    return result;
  } catch (error) {
    if (status) status.textContent = "";
    showError(error);
  } finally {
    button.disabled = false;
    if (status) status.classList.remove("working");
  }
}
