#!/usr/bin/python3
"""Independent reference for models.visual_encoder: torchvision's own resnet18, resize and normalisation.

Usage: visual_encoder_reference.py OUT_DIR

Builds a randomly initialised torchvision resnet18 (seeded; weights=None: nothing is downloaded) with its
classifier replaced by torch.nn.Identity, as docs/audio-visual.md tells users to export an encoder, and
writes:
  resnet18.pt          torch.jit.script(model.eval()).save
  images.npy           float32 [2, 3, H, W]: a real photo decoded by torchvision.io.read_image (libjpeg) and
                       its mirror image, values 0..255 (the C++ test feeds these same pixels to the node)
  embedding.npy        [2, 512]: torchvision's Resize([224, 224], bilinear, antialias=False) on the tensors,
                       ToTensor's / 255, Normalize(ImageNet mean, std), then the model
"""
import os
import sys

import numpy as np
import torch
import torchvision
import torchvision.transforms.functional as TF

PHOTO = "darknet__dog.jpg"


def main():
    out = sys.argv[1]
    # the tests pass the build's shared folder; by default the one beside the source tree
    here = os.path.dirname(os.path.abspath(__file__))
    shared = os.environ.get("AVGRAPH_SHARED_DIR", os.path.join(here, "..", "..", "..", "..", "shared"))
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None)
    model.fc = torch.nn.Identity()
    model.eval()
    torch.jit.script(model).save(os.path.join(out, "resnet18.pt"))

    photo = torchvision.io.read_image(os.path.join(shared, "data", "photos", PHOTO))  # uint8 [3, H, W]
    images = torch.stack([photo, photo.flip(-1)]).float()
    x = TF.resize(images, [224, 224], interpolation=TF.InterpolationMode.BILINEAR, antialias=False)
    x = TF.normalize(x / 255.0, mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])
    with torch.no_grad():
        embedding = model(x)
    np.save(os.path.join(out, "images.npy"), images.numpy().astype(np.float32))
    np.save(os.path.join(out, "embedding.npy"), embedding.numpy().astype(np.float32))


if __name__ == "__main__":
    main()
