"""Distribution metrics of generated audio from a classifier's outputs.

    frechet_distance(real_embeddings, fake_embeddings)     # FD (as FID/FAD), >= 0
    kernel_inception_distance(real, fake)                  # KID: unbiased MMD^2, cubic kernel
    inception_score(probabilities)                         # IS in [1, classes]
    accuracy(probabilities, intended)                      # share classified as intended

Embeddings are [N, D] float arrays, probabilities [N, classes] rows summing to 1.
"""

import numpy as np
import scipy.linalg


def frechet_distance(real, fake) -> float:
  """||mu_r - mu_f||^2 + Tr(S_r + S_f - 2 (S_r S_f)^(1/2)) of Gaussians fit
  to the two embedding sets (N > 1 each)."""
  real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
  mu_r, mu_f = real.mean(0), fake.mean(0)
  cov_r, cov_f = np.cov(real, rowvar=False), np.cov(fake, rowvar=False)
  root = np.real(scipy.linalg.sqrtm(cov_r @ cov_f))
  return float(max(0.0, np.sum((mu_r - mu_f) ** 2) + np.trace(cov_r + cov_f - 2 * root)))


def kernel_inception_distance(real, fake, num_subsets: int = 20, subset_size: int = 50,
                              seed: int = 0) -> float:
  """Mean over random subsets of the unbiased MMD^2 with the kernel
  k(x, y) = (x . y / D + 1)^3 (Binkowski et al. 2018). 0 in expectation
  when both sets come from one distribution."""
  real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
  dim = real.shape[1]
  m = min(subset_size, len(real), len(fake))
  rng = np.random.default_rng(seed)
  kernel = lambda a, b: (a @ b.T / dim + 1.0) ** 3
  values = []
  for _ in range(num_subsets):
    x = real[rng.choice(len(real), m, replace=False)]
    y = fake[rng.choice(len(fake), m, replace=False)]
    k_xx, k_yy, k_xy = kernel(x, x), kernel(y, y), kernel(x, y)
    within = ((k_xx.sum() - np.trace(k_xx)) + (k_yy.sum() - np.trace(k_yy))) / (m * (m - 1))
    values.append(within - 2 * k_xy.mean())
  return float(np.mean(values))


def inception_score(probabilities) -> float:
  """exp(E_x KL(p(y | x) || p(y))): 1 for uninformative or identical
  predictions, up to the class count for confident, balanced ones."""
  p = np.clip(np.asarray(probabilities, np.float64), 1e-12, 1.0)
  marginal = p.mean(0, keepdims=True)
  return float(np.exp(np.mean(np.sum(p * (np.log(p) - np.log(marginal)), axis=1))))


def accuracy(probabilities, intended) -> float:
  """Share of rows whose most probable class is the intended one."""
  return float(np.mean(np.argmax(probabilities, axis=1) == np.asarray(intended)))
