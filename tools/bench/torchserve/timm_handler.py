"""TorchServe handler for nfserve's timm checkpoint folders (config.json + model.safetensors).

TorchServe is only a BENCHMARK PEER of nfserve (tools/bench/load.sh --target torchserve); this file is
never used by nfserve itself. tools/bench/torchserve/setup.sh packages it with
checkpoints/fmnist-resnet-bn into a .mar:

    torch-model-archiver --model-name fmnist-resnet-bn --version 1.0 --handler timm_handler.py \
        --serialized-file checkpoints/fmnist-resnet-bn/model.safetensors \
        --extra-files checkpoints/fmnist-resnet-bn/config.json --export-path MODEL_STORE

What it does, as the reference scripts do (tools/reference/fmnist_checkpoints.py):
  model:      timm.create_model(architecture, pretrained=False, num_classes=num_classes, **model_args),
              the safetensors state dict widened to float32 and loaded strictly, eval(). Checkpoints
              whose model_args need tools/train/xbn.py (xbn, gn_groups) are refused.
  preprocess: each request's body (raw image bytes, as `curl -T image.png` sends them, or base64 text)
              decoded with PIL, converted to 'L' when the model takes 1 input channel (else 'RGB'), then
              timm's eval transform for the checkpoint's pretrained_cfg (resolve_data_config +
              create_transform(is_training=False)); for the 28x28 Fashion-MNIST models that is
              (pixel / 255 - 0.286) / 0.353.
  inference:  the requests TorchServe batched together in one forward under torch.inference_mode().
  response:   like TorchServe's image_classifier: per request the top-5 {label: probability} of the
              softmax, labels from config.json's label_names.

Run directly for a check outside TorchServe:
    python timm_handler.py CHECKPOINT_DIR IMAGE...
"""
import base64
import io
import json
import os
import sys

import torch
from PIL import Image


class TimmCheckpointHandler:
    """TorchServe custom service: initialize(context) once per worker, handle(data, context) per batch."""

    topk = 5

    def __init__(self):
        self.model = None
        self.transform = None
        self.labels = None
        self.mode = "L"
        self.initialized = False

    def initialize(self, context):
        import timm
        from safetensors.torch import load_file
        from timm.data import create_transform, resolve_data_config

        model_dir = context.system_properties.get("model_dir")
        with open(os.path.join(model_dir, "config.json")) as f:
            cfg = json.load(f)
        model_args = dict(cfg.get("model_args", {}))
        unsupported = sorted({"xbn", "gn_groups"} & model_args.keys())
        if unsupported:
            raise ValueError(f"model_args {unsupported} need tools/train/xbn.py; this handler builds plain timm models")
        model = timm.create_model(cfg["architecture"], pretrained=False, num_classes=cfg["num_classes"], **model_args)
        state = load_file(os.path.join(model_dir, "model.safetensors"))
        state = {k: (v.float() if v.is_floating_point() else v) for k, v in state.items()}
        model.load_state_dict(state, strict=True)
        self.model = model.float().eval()

        pretrained_cfg = cfg["pretrained_cfg"]
        self.transform = create_transform(**resolve_data_config(pretrained_cfg=pretrained_cfg), is_training=False)
        self.mode = "L" if pretrained_cfg["input_size"][0] == 1 else "RGB"
        self.labels = cfg.get("label_names") or [str(i) for i in range(cfg["num_classes"])]
        self.topk = min(self.topk, len(self.labels))
        self.initialized = True

    def preprocess(self, data):
        images = []
        for row in data:
            body = row.get("data") or row.get("body")
            if isinstance(body, str):  # base64 text (TorchServe's image_classifier accepts it too)
                body = base64.b64decode(body)
            image = Image.open(io.BytesIO(body)).convert(self.mode)
            images.append(self.transform(image))
        return torch.stack(images)

    def inference(self, x):
        with torch.inference_mode():
            return self.model(x)

    def postprocess(self, logits):
        probs, classes = torch.topk(torch.softmax(logits.float(), dim=1), self.topk, dim=1)
        return [{self.labels[c]: p for c, p in zip(cs, ps)} for cs, ps in zip(classes.tolist(), probs.tolist())]

    def handle(self, data, context):
        if not self.initialized:
            self.initialize(context)
        if not data:
            return None
        return self.postprocess(self.inference(self.preprocess(data)))


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)

    class _Context:
        system_properties = {"model_dir": sys.argv[1]}

    handler = TimmCheckpointHandler()
    handler.initialize(_Context())
    rows = []
    for path in sys.argv[2:]:
        with open(path, "rb") as f:
            rows.append({"body": bytearray(f.read())})
    for path, result in zip(sys.argv[2:], handler.handle(rows, _Context())):
        print(json.dumps({"file": os.path.basename(path), "predictions": result}))
