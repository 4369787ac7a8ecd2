"""InfoGAN-CR: Lin, Thekumparampil, Fanti, Oh, "InfoGAN-CR and ModelCentrality: Self-supervised
Model Training and Selection for Disentangling GANs" (ICML 2020).

InfoGAN plus a contrastive regulariser. Each step draws B pairs of latents that share the noise z
and the value of one randomly chosen code k (every other code drawn independently for each image);
a pair discriminator H sees the two generated images and predicts k. H and G both minimise H's
cross-entropy, G with weight α: a generator whose codes each change one distinguishable thing
makes k easy to read off, which is what disentanglement means here.

The schedule follows the authors' code (fjxmlzn/InfoGAN-CR):
- α is 0 until step `cr_start`, then `cr_weight` (their dSprites runs switch it on at 288k of
  ~322k steps); H trains from the first step either way and is re-initialised when α switches on.
- The contrastive gap: unshared U(-1, 1) codes of a pair are drawn at least `gap` apart, which
  makes H's task easier early on. The gap starts at `cr_gap` and falls to 0 in `cr_gap_stages`
  equal steps by step `cr_gap_until`; H is re-initialised at each decrease. Other code types are
  drawn independently whatever the gap.
- Two G updates per D update (`g_steps`, default 2 here), as their training loop runs.

H: 4x4 stride-2 convs (32, 32, 64, 64 channels, as many as the image size allows), FC 128, FC L,
leaky ReLU 0.2, spectral norm on every layer but the last, no batch norm; trained by its own Adam at
D's learning rate. `cr_pair_net` picks how it sees the pair: `stacked` (the authors': both images
along channels, the default) or `siamese` (the same net on each image, FC L on the features'
absolute difference). The number of completed steps lives in H's `steps_done` buffer, so a resumed
run continues the schedule where it stopped.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from disentangle.errors import DisentangleError
from disentangle.latent import Latent
from disentangle.model import in_mode

from .method import InfoGAN, _adam, _option

PAIR = "pair_discriminator"  # H's key in model.auxiliary
INIT_STD = 0.02
PAIR_DESIGNS = ("stacked", "siamese")  # PairDiscriminator's two forms


class PairDiscriminator(nn.Module):
    """H: a pair of images, each (B, C, H, W) -> logits over the L codes (B, L).

    `stacked` (the authors'): one conv net on the two images stacked along channels (B, 2C, H, W).
    `siamese`: one conv net f encodes each image alone and a linear head reads |f(a) - f(b)|. It is
    symmetric in the pair by construction and its features only have to tell images apart, so it
    leaves chance within a hundred steps where the stacked net sat at chance for thousands
    (docs/training.md has the measurements).
    """

    def __init__(self, image_shape: tuple[int, int, int], num_codes: int, design: str = "stacked",
                 leak: float = 0.2):
        super().__init__()
        from torch.nn.utils.parametrizations import spectral_norm

        if design not in PAIR_DESIGNS:
            raise DisentangleError(f"pair discriminator design must be one of "
                                   f"{', '.join(PAIR_DESIGNS)}; got {design!r}")
        self.design = design
        c, h, w = image_shape
        layers: list[nn.Module] = []
        channels = 2 * c if design == "stacked" else c
        for out in (32, 32, 64, 64):
            if min(h, w) < 8:
                break
            layers += [spectral_norm(nn.Conv2d(channels, out, 4, 2, 1)), nn.LeakyReLU(leak)]
            channels, h, w = out, (h + 2 - 4) // 2 + 1, (w + 2 - 4) // 2 + 1  # halved
        self.body = nn.Sequential(
            *layers,  # (B', channels, h, w); B' = B stacked, 2B siamese
            nn.Flatten(),  # (B', channels*h*w)
            spectral_norm(nn.Linear(channels * h * w, 128)), nn.LeakyReLU(leak),  # (B', 128)
        )
        self.head = nn.Linear(128, num_codes)  # (B, 128) -> (B, L) logits: the shared code
        self.register_buffer("steps_done", torch.zeros((), dtype=torch.long))
        self._register_load_state_dict_pre_hook(self._head_was_in_body)
        self.reset(None)

    def _head_was_in_body(self, state_dict, prefix, *_) -> None:
        """Checkpoints written before `head` was split out hold it as the body's last layer."""
        old = f"{prefix}body.{len(self.body)}."
        for key in [k for k in state_dict if k.startswith(old)]:
            state_dict[f"{prefix}head.{key[len(old):]}"] = state_dict.pop(key)

    def reset(self, generator: torch.Generator | None) -> None:
        """Fresh weights ~ N(0, 0.02), biases 0 (the schedule re-initialises H at each change)."""
        with torch.no_grad():
            for name, param in [*self.body.named_parameters(), *self.head.named_parameters()]:
                if name.endswith("bias"):
                    param.zero_()
                else:
                    param.normal_(0.0, INIT_STD, generator=generator)

    def forward(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        if self.design == "stacked":
            return self.head(self.body(torch.cat([first, second], dim=1)))  # (B, L)
        features = self.body(torch.cat([first, second], dim=0))  # (2B, 128): one pass for both
        one, other = features.chunk(2)  # (B, 128) each
        return self.head((one - other).abs())  # (B, L)


class InfoGANCR(InfoGAN):
    """InfoGAN + α·CE(H(G(z, c), G(z, c')), k) for G and H, with the authors' schedule."""

    name = "infogan-cr"

    def __init__(self, q_trains_trunk: bool | None = None, precision: str = "fp32",
                 g_steps: int = 2, cr_weight: float = 2.0, cr_start: int = 0,
                 cr_gap: float = 0.0, cr_gap_until: int = 0, cr_gap_stages: int = 1,
                 q_optimizer: str | None = None, cr_pair_net: str = "stacked",
                 q_augment: bool = False, q_augment_start: int = 0):
        super().__init__(q_trains_trunk, precision, g_steps, q_optimizer, q_augment,
                         q_augment_start)
        for label, value, ok in (
                ("cr_weight", cr_weight, isinstance(cr_weight, (int, float)) and cr_weight >= 0),
                ("cr_start", cr_start, isinstance(cr_start, int) and cr_start >= 0),
                ("cr_gap", cr_gap, isinstance(cr_gap, (int, float)) and 0 <= cr_gap < 2),
                ("cr_gap_until", cr_gap_until, isinstance(cr_gap_until, int) and cr_gap_until >= 0),
                ("cr_gap_stages", cr_gap_stages,
                 isinstance(cr_gap_stages, int) and cr_gap_stages >= 1),
                ("cr_pair_net", cr_pair_net, cr_pair_net in PAIR_DESIGNS)):
            if isinstance(value, bool) or not ok:
                raise DisentangleError(f"method '{self.name}': {label} out of range: {value!r}")
        self.cr_weight, self.cr_start = float(cr_weight), cr_start
        self.cr_gap, self.cr_gap_until, self.cr_gap_stages = float(cr_gap), cr_gap_until, cr_gap_stages
        self.cr_pair_net = cr_pair_net

    # --- networks and optimisers -------------------------------------------------------------

    owns_clock = False  # the steps are counted in H's buffer (it predates q_augment_start)

    def step_clock(self, model) -> torch.Tensor:
        return model.auxiliary[PAIR].steps_done  # also what the schedule reads

    def auxiliary_networks(self, latent: Latent, image_shape) -> dict[str, nn.Module]:
        networks = super().auxiliary_networks(latent, image_shape)  # InfoGAN's, and its checks
        if len(latent.codes) < 2:
            raise DisentangleError(f"method '{self.name}' needs at least 2 codes (H predicts "
                                   f"which one a pair shares); got {len(latent.codes)}")
        return {**networks,
                PAIR: PairDiscriminator(tuple(image_shape), len(latent.codes), self.cr_pair_net)}

    def optimizers(self, model, config):
        optimizers = super().optimizers(model, config)
        if PAIR not in model.auxiliary:  # a model built without this method's networks
            pair = self.auxiliary_networks(model.latent, _image_shape(model))[PAIR]
            model.auxiliary[PAIR] = pair.to(next(model.generator.parameters()).device)
        betas = (_option(config, "beta1", 0.5), _option(config, "beta2", 0.999))
        optimizers["h"] = _adam(list(model.auxiliary[PAIR].parameters()),
                                _option(config, "lr_d", 2e-4), betas)
        return optimizers

    # --- the schedule --------------------------------------------------------------------------

    def weight_at(self, step: int) -> float:
        """α after `step` completed steps."""
        return self.cr_weight if step >= self.cr_start else 0.0

    def gap_at(self, step: int) -> float:
        """The contrastive gap after `step` completed steps: cr_gap, lowered in equal stages."""
        if self.cr_gap <= 0 or step >= self.cr_gap_until:
            return 0.0
        stage = step * self.cr_gap_stages // self.cr_gap_until
        return self.cr_gap * (1 - stage / self.cr_gap_stages)

    def resets_at(self, step: int) -> bool:
        """Whether H starts afresh before this step: α switching on, or the gap decreasing."""
        if step == 0:
            return False
        if step == self.cr_start:
            return True
        return self.cr_gap > 0 and step <= self.cr_gap_until and \
            self.gap_at(step) != self.gap_at(step - 1)

    def capture_key(self, steps_done: int):
        """The regime: whether α is on, and the gap. A new regime starts with eager steps (H's
        re-initialisation among them) and is recorded afresh."""
        self._steps_done = steps_done  # a replay does not run step()'s Python
        return (self.warping(steps_done), self.weight_at(steps_done) > 0,
                self.gap_at(steps_done))

    # --- pairs ---------------------------------------------------------------------------------

    def sample_pairs(self, latent: Latent, n: int, gap: float, generator, device):
        """(z, values_a, values_b, shared): both sides share z and code `shared[i]` in row i."""
        z, values_a = latent.sample(n, generator, device)
        _, values_b = latent.sample(n, generator, device)
        shared = torch.randint(len(latent.codes), (n,), generator=generator, device=device)
        pairs_a, pairs_b = [], []
        for i, (lc, a, b) in enumerate(zip(latent.codes, values_a, values_b)):
            if gap > 0 and lc.code.kind == "uniform":
                a, b = _apart(a, b, gap)
            same = (shared == i)[:, None]  # (n, 1)
            pairs_a.append(a)
            pairs_b.append(torch.where(same, a, b))
        return z, pairs_a, pairs_b, shared

    # --- one iteration -----------------------------------------------------------------------

    def step(self, model, optimizers, real, generator):
        pair_net: PairDiscriminator = model.auxiliary[PAIR]
        done = self.tick(model)
        if self.resets_at(done):
            pair_net.reset(generator)
            optimizers["h"].state.clear()
        alpha, gap = self.weight_at(done), self.gap_at(done)
        latent, device, n, warping = model.latent, real.device, real.shape[0], self.warping(done)

        z, values = latent.sample(n, generator, device)
        pz, pa, pb, shared = self.sample_pairs(latent, n, gap, generator, device)
        with self._autocast(device):
            fake = model.generate(z, values)  # (B, C, H, W)
            first, second = self.pair_images(model, pz, pa, pb, train=alpha > 0,
                                             grad=alpha > 0)

        # ---- H step: which code does each pair share?
        with self._autocast(device):
            logits = pair_net(first.detach(), second.detach())  # (B, L)
        loss_h = F.cross_entropy(logits.float(), shared)
        optimizers["h"].zero_grad(set_to_none=True)
        loss_h.backward(inputs=list(pair_net.parameters()))
        optimizers["h"].step()

        loss_d = self.d_step(model, optimizers["d"], real, fake, values,
                             self.warps(n, generator, device, warping, d_step=True))

        # ---- G steps: adversarial + information + α·contrastive (H frozen here)
        for i in range(self.g_steps):
            if i:
                with self._autocast(device):
                    fake = model.generate(z, values)
                    if alpha > 0:
                        first, second = self.pair_images(model, pz, pa, pb, train=True, grad=True)
            extra: torch.Tensor | float = 0.0
            if alpha > 0:
                with self._autocast(device):
                    logits_g = pair_net(first, second)
                extra = alpha * F.cross_entropy(logits_g.float(), shared)
            loss_g, information = self.g_step(model, optimizers["g"], fake, values, extra,
                                              self.warps(n, generator, device, warping))

        logs = self.logs(latent, loss_d, loss_g, information)
        logs["cr/loss"] = loss_h.detach()
        logs["cr/accuracy"] = (logits.detach().argmax(1) == shared).float().mean()
        return logs

    @staticmethod
    def pair_images(model, z, values_a, values_b, train: bool, grad: bool):
        """Both sides of the pairs, each its own G batch (as two generator calls in the authors'
        code), G in train or eval mode, with or without gradients. Training draws them in train
        mode with gradients once α is on; before, in eval mode without, so they neither train G
        nor move its batch-norm statistics."""
        with in_mode(model.generator, train), torch.set_grad_enabled(grad):
            return model.generate(z, values_a), model.generate(z, values_b)


def _apart(a: torch.Tensor, b: torch.Tensor, gap: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Two U(-1, 1) draws moved at least `gap` apart, each still uniform on its part of (-1, 1):
    both are drawn in (-1 + gap/2, 1 - gap/2), then pushed gap/2 away from each other."""
    a, b = a * (1 - gap / 2), b * (1 - gap / 2)
    sign = torch.where(a > b, 1.0, -1.0).to(a.dtype)
    return a + sign * gap / 2, b - sign * gap / 2


def _image_shape(model) -> tuple[int, int, int]:
    """G's output shape, from one eval-mode sample."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            images, _, _ = model.sample(2)
    finally:
        model.train(was_training)
    return tuple(images.shape[1:])
