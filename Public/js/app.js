// nfserve's dashboard: plain ES modules, no build step, nothing loaded from elsewhere.
import { showError } from "./api.js";
import { loadDatasets, loadModels } from "./models.js";
import * as classify from "./classify.js";
import * as spp from "./spp.js";
import * as esm from "./esm.js";
import * as precision from "./precision.js";

async function start() {
  spp.setUp();
  esm.setUp();
  precision.setUp();
  try {
    await Promise.all([loadModels(), loadDatasets(), classify.setUp()]);
    document.body.dataset.ready = "true";
  } catch (error) {
    showError(error);
  }
}

start();
