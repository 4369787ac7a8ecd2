"""InfoGAN: Chen et al., "InfoGAN: Interpretable Representation Learning by Information Maximizing
Generative Adversarial Nets" (NIPS 2016), and the paper's Figure 1 baseline: the same networks,
data and optimisers, with Q still trained but no information reward for the generator.

One iteration is one D step then one G step, as in the official code (`g_steps` G steps on the same
latents if asked: InfoGAN-CR's published code runs two). With λ_i = LatentCode.weight
and L_I(c_i) = E[log Q(c_i|x)] + H(c_i) on generated images x = G(z, c):

    D step:  loss_D = BCE(D(x_real), 1) + BCE(D(x_fake), 0)  [- Σ_i λ_i L_I(c_i): Q trains trunk]
    G step:  loss_G = BCE(D(G(z, c)), 1) - Σ_i λ_i L_I(c_i)
             (gan: the same term on detached features, so it trains Q's head only)

With `q_augment`, Q reads every discrete code from a randomly rotated, shifted and zoomed copy of
the fake batch (augment.py), in the D step and in every G step, each with fresh maps drawn from
the step's generator; continuous codes are read from the images as they are. From step
`q_augment_start` on (0: from the first): before it the steps are those of a run without warps,
and the completed steps are counted in a StepClock in `model.auxiliary` (InfoGAN-CR: in H's
buffer), so a resumed run knows where it is.

Optimiser 'd' updates D's trunk and real/fake head at lr_d; optimiser 'g' updates G and, by default,
Q's head at lr_g, from the G step's term. With `q_optimizer="d"` Q's head is D's instead: it learns
from the D step's term at lr_d, as in InfoGAN-CR's code, where Q's layers are part of D's network
and D's optimiser. Every log Q(c|x) goes through the LatentCode that sampled c, so sampling and
scoring agree.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from disentangle.errors import DisentangleError
from disentangle.latent import Latent
from disentangle.methods import Method
from disentangle.model import LatentModel
from disentangle.training.config import PRECISIONS
from disentangle_infogan.augment import draw_affine, warp

Q_OPTIMIZERS = ("g", "d")  # which optimiser holds Q's head
CLOCK = "q_augment_clock"  # model.auxiliary key of the StepClock that q_augment_start needs


def _option(config: Any, name: str, default: Any) -> Any:
    value = getattr(config, name, None) if config is not None else None
    return default if value is None else value


class StepClock(nn.Module):
    """Completed steps as a buffer: checkpointed and resumed with the weights, and counted on the
    device, so that a replayed CUDA graph counts too."""

    def __init__(self):
        super().__init__()
        self.register_buffer("steps_done", torch.zeros((), dtype=torch.long))


class InfoGAN(Method):
    """min_{G,Q} max_D V(D, G) - Σ_i λ_i L_I(c_i)."""

    name = "infogan"
    reward_generator = True  # G's loss includes -Σ λ_i L_I (gan: False)
    default_q_trains_trunk = True  # D's loss includes Q's term, so the shared trunk learns from it

    def __init__(self, q_trains_trunk: bool | None = None, precision: str = "fp32",
                 g_steps: int = 1, q_optimizer: str | None = None, q_augment: bool = False,
                 q_augment_start: int = 0):
        if isinstance(g_steps, bool) or not isinstance(g_steps, int) or g_steps < 1:
            raise DisentangleError(f"method '{self.name}': g_steps must be an integer >= 1, "
                                   f"got {g_steps!r}")
        if not isinstance(q_augment, bool):
            raise DisentangleError(f"method '{self.name}': q_augment must be true or false, "
                                   f"got {q_augment!r}")
        if isinstance(q_augment_start, bool) or not isinstance(q_augment_start, int) \
                or q_augment_start < 0:
            raise DisentangleError(f"method '{self.name}': q_augment_start must be an integer "
                                   f">= 0, got {q_augment_start!r}")
        if q_augment_start and not q_augment:
            raise DisentangleError(f"method '{self.name}': q_augment_start is the step from "
                                   "which q_augment warps; it needs q_augment")
        self.q_augment = q_augment  # discrete codes read from warped fakes (augment.py)
        self.q_augment_start = q_augment_start
        self._steps_done: int | None = None  # Python mirror of the clock (read once a session)
        if q_optimizer not in (None, *Q_OPTIMIZERS):
            raise DisentangleError(f"method '{self.name}': q_optimizer must be one of "
                                   f"{', '.join(Q_OPTIMIZERS)}, got {q_optimizer!r}")
        self.g_steps = g_steps  # generator updates per D update
        self.q_optimizer = q_optimizer or "g"
        self.q_trains_trunk = (self.default_q_trains_trunk if q_trains_trunk is None
                               else bool(q_trains_trunk))
        if precision not in PRECISIONS:
            raise DisentangleError(f"method '{self.name}': precision must be one of "
                                   f"{', '.join(PRECISIONS)}, got {precision!r}")
        self.precision = precision

    @property
    def d_reads_q(self) -> bool:
        """Whether Q's term is in D's objective: Q trains the trunk, or Q's head is D's."""
        return self.q_trains_trunk or self.q_optimizer == "d"

    @property
    def owns_clock(self) -> bool:
        """Whether the method needs a StepClock of its own (InfoGAN-CR counts in H instead)."""
        return bool(self.q_augment_start)

    def auxiliary_networks(self, latent: Latent, image_shape) -> dict[str, nn.Module]:
        """None of its own; refuses `q_augment` where no code is discrete (nothing would read
        the warped fakes, so every step would pay for a trunk pass it throws away)."""
        if self.q_augment and not any(c.code.discrete for c in latent.codes):
            raise DisentangleError(
                f"method '{self.name}': q_augment warps the fakes Q reads discrete codes from, "
                f"and this run's codes ({', '.join(latent.specs())}) have none; drop "
                "--q-augment or add a discrete code (--code categorical:K)")
        return {CLOCK: StepClock()} if self.owns_clock else {}

    def optimizers(self, model: LatentModel, config: Any) -> dict[str, torch.optim.Optimizer]:
        if self.owns_clock and CLOCK not in model.auxiliary:  # a model built without it
            model.auxiliary[CLOCK] = StepClock().to(next(model.generator.parameters()).device)
        betas = (_option(config, "beta1", 0.5), _option(config, "beta2", 0.999))
        q_params = [*model.q_head.parameters()]
        d_params = [*model.trunk.parameters(), *model.d_head.parameters(),
                    *(q_params if self.q_optimizer == "d" else [])]
        g_params = [*model.generator.parameters(), *(q_params if self.q_optimizer == "g" else [])]
        return {"d": _adam(d_params, _option(config, "lr_d", 2e-4), betas),
                "g": _adam(g_params, _option(config, "lr_g", 1e-3), betas)}

    def capture_key(self, steps_done: int):
        """One record for the whole run, or one for each side of `q_augment_start`."""
        self._steps_done = steps_done  # a replay does not run step()'s Python
        return (self.warping(steps_done),) if self.q_augment_start else ()

    def step_clock(self, model) -> torch.Tensor | None:
        """The long buffer that counts completed steps, or None where nothing needs the count."""
        return model.auxiliary[CLOCK].steps_done if self.owns_clock else None

    def tick(self, model) -> int:
        """Steps completed before this one (0 without a clock), and one more on the clock: read
        from the device once a session, then followed in Python; counted on the device too, so
        that a replayed CUDA graph counts. Call once per step."""
        clock = self.step_clock(model)
        if clock is None:
            return 0
        if self._steps_done is None:
            self._steps_done = int(clock)  # one sync per session
        done, self._steps_done = self._steps_done, self._steps_done + 1
        clock.add_(1)
        return done

    def warping(self, steps_done: int) -> bool:
        """Whether the step after `steps_done` completed ones reads discrete codes from warped
        fakes."""
        return self.q_augment and steps_done >= self.q_augment_start

    def _autocast(self, device: torch.device):
        if self.precision == "bf16":  # a graph cannot keep autocast's cache of cast weights
            capturing = device.type == "cuda" and torch.cuda.is_current_stream_capturing()
            return torch.autocast(device.type, dtype=torch.bfloat16, cache_enabled=not capturing)
        return contextlib.nullcontext()

    @staticmethod
    def _reward(latent: Latent, information: list[torch.Tensor]) -> torch.Tensor | float:
        """Σ_i λ_i L_I(c_i): what the information term subtracts from a loss."""
        terms = zip(latent.codes, information, strict=True)
        return sum((c.weight * info for c, info in terms), 0.0)

    def step(self, model, optimizers, real, generator):
        n, device, warping = real.shape[0], real.device, self.warping(self.tick(model))
        z, values = model.latent.sample(n, generator, device)
        with self._autocast(device):
            fake = model.generate(z, values)  # (B, C, H, W); its graph is kept for the G step
        loss_d = self.d_step(model, optimizers["d"], real, fake, values,
                             self.warps(n, generator, device, warping, d_step=True))
        for i in range(self.g_steps):
            if i:  # G changed: the same latents through the updated generator
                with self._autocast(device):
                    fake = model.generate(z, values)
            loss_g, information = self.g_step(model, optimizers["g"], fake, values,
                                              warps=self.warps(n, generator, device, warping))
        return self.logs(model.latent, loss_d, loss_g, information)

    def warps(self, n: int, generator, device, warping: bool,
              d_step: bool = False) -> torch.Tensor | None:
        """(n, 2, 3) fresh affine maps for one D or G step's discrete codes, or None when this
        step does not warp (`warping`) or, for a D step, when D's objective has no Q term (then
        nothing is drawn: the run's random stream is as without the maps)."""
        wanted = warping and (self.d_reads_q or not d_step)
        return draw_affine(n, generator, device) if wanted else None

    def q_outputs(self, model, head: torch.Tensor, fake: torch.Tensor,
                  warps: torch.Tensor | None, detach: bool) -> torch.Tensor:
        """Q's head for the fakes with every discrete code's columns replaced by Q's reading of
        the warped fakes (one more pass through D's trunk), or `head` itself without warps."""
        if warps is None:
            return head
        with torch.no_grad() if detach else contextlib.nullcontext():  # detach: Q's head only
            _, features = model.discriminate(warp(fake, warps))  # (B,), (B, F)
        warped = model.q_head(features)  # (B, head_width)
        latent = model.latent
        return torch.cat([w if c.code.discrete else h for c, h, w in zip(
            latent.codes, latent.split_head(head), latent.split_head(warped), strict=True)], 1)

    def d_step(self, model, opt_d, real, fake, values,
               warps: torch.Tensor | None = None) -> torch.Tensor:
        """Real vs fake (cut from G); real and fake go through BN as separate batches. Q's term
        is in D's objective when it trains the trunk or when Q's head is D's; `warps`: see
        q_outputs."""
        fake = fake.detach()  # D's step: nothing reaches G
        with self._autocast(real.device):
            logit_real, _ = model.discriminate(real)  # (B,)
            logit_fake, features = model.discriminate(fake)  # (B,), (B, F)
            head = None
            if self.d_reads_q:  # (B, head_width)
                head = model.q_head(features if self.q_trains_trunk else features.detach())
                head = self.q_outputs(model, head, fake, warps, not self.q_trains_trunk)
        # BCE with logits: -log σ(l) = softplus(-l), -log(1 - σ(l)) = softplus(l)
        loss_d = F.softplus(-logit_real.float()).mean() + F.softplus(logit_fake.float()).mean()
        objective_d = loss_d
        if head is not None:
            information = model.latent.information_terms(head.float(), values)
            objective_d = loss_d - self._reward(model.latent, information)
        opt_d.zero_grad(set_to_none=True)
        objective_d.backward(inputs=_params(opt_d))  # trunk, D head (and Q's head if D's)
        opt_d.step()
        return loss_d

    def g_step(self, model, opt_g, fake, values, extra: torch.Tensor | float = 0.0,
               warps: torch.Tensor | None = None):
        """One forward of the fake batch through the updated trunk feeds D and Q; `extra` is a
        method's additional generator loss (already weighted); `warps`: see q_outputs."""
        latent = model.latent
        with self._autocast(fake.device):
            logit, features = model.discriminate(fake)  # (B,), (B, F)
            head = model.q_head(features if self.reward_generator else features.detach())
            head = self.q_outputs(model, head, fake, warps, not self.reward_generator)
        information = latent.information_terms(head.float(), values)  # L_I per code, nats
        loss_g = F.softplus(-logit.float()).mean()  # non-saturating: -log D(G(z, c))
        # infogan: the reward reaches G (through the trunk, frozen here) and Q's head;
        # gan: features are detached, so the same term only trains Q's head
        objective_g = loss_g - self._reward(latent, information) + extra
        opt_g.zero_grad(set_to_none=True)
        objective_g.backward(inputs=_params(opt_g))  # G (and Q's head if G's); D's get no grads
        opt_g.step()
        return loss_g, information

    @staticmethod
    def logs(latent: Latent, loss_d, loss_g, information) -> dict[str, torch.Tensor]:
        logs = {"loss_d": loss_d.detach(), "loss_g": loss_g.detach()}
        logs.update({f"info/{c.name}": info.detach() for c, info in zip(latent.codes, information)})
        return logs


class GAN(InfoGAN):
    """The Figure 1 baseline: no information reward for G; Q's head learns on detached features
    (by default also cut from the trunk) so its L_I can still be measured."""

    name = "gan"
    reward_generator = False
    default_q_trains_trunk = False


def _adam(params: list[torch.Tensor], lr: float, betas: tuple[float, float]) -> torch.optim.Adam:
    """Adam, fused into one kernel per step where this torch supports it (CPU since 2.4): the
    paper's FC layers hold ~13M weights, and the per-tensor loop was ~10% of a CPU step."""
    try:
        return torch.optim.Adam(params, lr=lr, betas=betas, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.Adam(params, lr=lr, betas=betas)


def _params(optimizer: torch.optim.Optimizer) -> list[torch.Tensor]:
    return [p for group in optimizer.param_groups for p in group["params"]]
