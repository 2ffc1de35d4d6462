"""XBNBlock norm swapping for timm ResNets (Huang et al. 2022, github.com/huangleiBuaa/XBNBlock).

timm has no XBNBlock architecture, so a checkpoint declares it as a timm ResNet plus
model_args {"xbn": "p2", "gn_groups": G}. Build it with:

    model_args = dict(config["model_args"])
    model = create_xbn_model(config["architecture"], num_classes, **model_args)

or pop 'xbn' / 'gn_groups' yourself, call timm.create_model, then swap_to_xbn(model, variant, groups).

Which BatchNorm becomes GroupNorm (GroupNorm(num_groups=min(G, C), C), eps 1e-5, affine):
    variant  BasicBlock  Bottleneck
    p1       bn1         bn1 (after the first 1x1)
    p2       bn1         bn2 (after the 3x3)        <- the paper's XBNBlock
    p3       bn2         bn3 (before the residual add)
The stem's bn1 becomes GroupNorm too; downsample (shortcut) BatchNorms stay BatchNorm.
Module names are unchanged, so the state_dict keeps timm's key names; a swapped norm has only
`weight` and `bias` (no running_mean / running_var / num_batches_tracked).
"""
import torch.nn as nn

_TARGET = {
    'p1': {'BasicBlock': 'bn1', 'Bottleneck': 'bn1'},
    'p2': {'BasicBlock': 'bn1', 'Bottleneck': 'bn2'},
    'p3': {'BasicBlock': 'bn2', 'Bottleneck': 'bn3'},
}


def _gn_like(bn, groups):
    c = bn.num_features
    g = min(groups, c)
    if c % g != 0:
        raise ValueError(f'GroupNorm: {c} channels not divisible by {g} groups')
    gn = nn.GroupNorm(g, c, eps=1e-5, affine=True)
    gn.to(device=bn.weight.device, dtype=bn.weight.dtype)
    # keep the BN's affine init (timm zero-inits bn3 in Bottleneck when zero_init_last)
    gn.weight.data.copy_(bn.weight.data)
    gn.bias.data.copy_(bn.bias.data)
    return gn


def swap_to_xbn(model, variant='p2', groups=64):
    """Replace BatchNorms of a timm ResNet in place per the XBNBlock variant. Returns the model."""
    variant = variant.lower()
    if variant not in _TARGET:
        raise ValueError(f'unknown xbn variant {variant!r} (p1, p2, p3)')
    if not isinstance(getattr(model, 'bn1', None), nn.BatchNorm2d) or not hasattr(model, 'layer1'):
        raise ValueError('swap_to_xbn expects a timm ResNet (conv1/bn1/layer1..4)')
    model.bn1 = _gn_like(model.bn1, groups)
    for stage in (model.layer1, model.layer2, model.layer3, model.layer4):
        for block in stage:
            name = _TARGET[variant].get(type(block).__name__)
            if name is None:
                raise ValueError(f'unsupported block type {type(block).__name__}')
            setattr(block, name, _gn_like(getattr(block, name), groups))
    return model


def create_xbn_model(architecture, num_classes=None, pretrained=False, **model_args):
    """timm.create_model with the xbn / gn_groups model_args handled (absent: a plain timm model)."""
    import timm
    model_args = dict(model_args)
    variant = model_args.pop('xbn', None)
    groups = model_args.pop('gn_groups', 64)
    kwargs = dict(model_args)
    if num_classes is not None:
        kwargs['num_classes'] = num_classes
    model = timm.create_model(architecture, pretrained=pretrained, **kwargs)
    if variant:
        swap_to_xbn(model, variant, groups)
    return model
