"""Latent diffusion's parts: the autoencoder's losses and the latent scaling."""
