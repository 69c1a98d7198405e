#pragma once
/**
 * Neural network nodes: the CNN9 classifier of Kong et al., the VGG14-like classifier and the
 * embedding MLP of Pham et al., softmax and argmax over classes, user-exported TorchScript
 * modules, and the IVF networks of Liu et al. (VQ-VAE, codebook lookup, transformation network, critic). See
 * docs/models.md for the architectures and the readings chosen where papers are silent.
 *
 * The networks are trainable nodes: `Node::module()` gives their torch::nn::Module. They are built
 * in eval mode (batch norm uses its running statistics, dropout is off), which is what inference
 * wants; a trainer calls `module()->train()` for its epochs and `module()->eval()` after.
 */
#include "graph/registry.h"

#include <string>
#include <vector>

namespace avgraph::nodes {

/** models.cnn9: Kong et al.'s CNN9 (avg pooling) on [batch, channel, bin, frame]. */
NodeSpec cnn9NodeSpec();
/** models.vgg14: Pham et al.'s VGG14-like classifier on [batch, channel, bin, frame]. */
NodeSpec vgg14NodeSpec();
/** models.embedding_mlp: Pham et al.'s MLP on [batch, features] embeddings. */
NodeSpec embeddingMlpNodeSpec();
/** models.softmax: logits to probabilities over the last axis. */
NodeSpec softmaxNodeSpec();
/** models.argmax: the most likely class of each row, as indices with the class names. */
NodeSpec argmaxNodeSpec();
/** models.torchscript: a TorchScript module (torch::jit::load) run on the input. */
NodeSpec torchscriptNodeSpec();

// The IVF method (Liu et al.), nodes/models/ivf_nodes.cpp; networks in vqvae.h and ivf_networks.h.
/** models.vqvae_encoder: image [batch, 3, H, W] to z_e [batch, D, H/8, W/8]. */
NodeSpec vqvaeEncoderNodeSpec();
/** models.vq_codebook: z_e to its nearest codes (straight-through), indices, VQ loss and code usage. */
NodeSpec vqCodebookNodeSpec();
/** models.vqvae_decoder: codes [batch, D, h, w] to an image [batch, 3, 8h, 8w]. */
NodeSpec vqvaeDecoderNodeSpec();
/** models.codebook_lookup: code indices or a [-1, 1] index map to the codes [batch, D, h, w]. */
NodeSpec codebookLookupNodeSpec();
/** models.transformation_network: G, log-mel [batch, 1, n_mels, frames] to an imagined 16×16 feature. */
NodeSpec transformationNetworkNodeSpec();
/** models.critic: D, the WGAN-GP critic's score [batch] of a 16×16 feature map. */
NodeSpec criticNodeSpec();

// The audio-visual encoders (Chen et al.), nodes/models/av_encoder_nodes.cpp; the network in res_dcnn.h.
/** models.res_dcnn: the res-DCNN acoustic encoder, spectrum [batch, channel, bin, frame] to [batch, frame,
 * F]. */
NodeSpec resDcnnNodeSpec();
/** models.visual_encoder: a frozen TorchScript image network, images [batch, 3, H, W] to [batch, F]. */
NodeSpec visualEncoderNodeSpec();

/** Adds the model node types. */
void registerModelNodes(Registry& registry);

/**
 * The class label of each entry of an indices value (models.argmax's output): its class name when
 * the value carries class names, else the index written in decimal.
 */
std::vector<std::string> classLabels(const Value& indices);

} // namespace avgraph::nodes
