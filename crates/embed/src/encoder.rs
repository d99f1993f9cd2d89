//! The BERT encoder for one short text — a search query — in plain Rust, on the weights candle
//! loaded (shared, not copied).
//!
//! Why not candle here: for a query of ~12 tokens every matrix product has 12 rows, and candle's
//! `gemm` then spends ~40 % of the time packing the transposed weights into its tile layout and
//! the rest on per-call threading; a query took ~13 ms on 2 cores. With 12 rows the right order
//! is the weights' own: each weight row is read once, contiguously, and multiplied with every
//! token row held in registers ([`Dense::forward`], vectorised with `pulp`, which picks AVX2/FMA or
//! AVX-512 at run time). Batches of texts keep candle's model, where `gemm`'s packing pays.
//!
//! The arithmetic is the same as candle's `BertModel` (and Hugging Face's): embeddings
//! (word + position + token type 0) and LayerNorm; per layer self-attention with softmax, a dense
//! output with residual and LayerNorm, the intermediate dense with the configured activation,
//! and the output dense with residual and LayerNorm. The reference test pins both paths to the
//! sentence-transformers vectors.

use candle_core::{Storage, Tensor};
use candle_transformers::models::bert::{Config as BertConfig, HiddenAct};
use pulp::{Simd, WithSimd};
use rayon::prelude::*;

/// A weight tensor of the loaded model, read in place.
struct Weight(Tensor);

impl Weight {
    fn new(tensor: Tensor, shape: &[usize]) -> candle_core::Result<Weight> {
        if tensor.dims() != shape {
            candle_core::bail!("expected shape {shape:?}, found {:?}", tensor.dims());
        }
        Ok(Weight(tensor.contiguous()?))
    }

    /// Runs `with` on the tensor's values (row-major).
    fn with<R>(&self, with: impl FnOnce(&[f32]) -> R) -> R {
        let (storage, layout) = self.0.storage_and_layout();
        match &*storage {
            Storage::Cpu(cpu) => {
                let values = cpu.as_slice::<f32>().expect("f32 weights: loaded as F32");
                with(&values[layout.start_offset()..layout.start_offset() + layout.shape().elem_count()])
            }
            _ => unreachable!("the small encoder is built only for CPU models"),
        }
    }
}

/// `{prefix}.weight` of the given shape and `{prefix}.bias`, one value per weight row.
fn weight_and_bias(
    get: &impl Fn(&str, &[usize]) -> candle_core::Result<Weight>,
    prefix: &str,
    shape: &[usize],
) -> candle_core::Result<(Weight, Weight)> {
    Ok((get(&format!("{prefix}.weight"), shape)?, get(&format!("{prefix}.bias"), &shape[..1])?))
}

/// A linear layer: `y = x Wᵀ + b` with W stored `[outputs, inputs]` as in PyTorch.
struct Dense {
    weight: Weight,
    bias: Weight,
    inputs: usize,
    outputs: usize,
}

impl Dense {
    fn load(
        get: &impl Fn(&str, &[usize]) -> candle_core::Result<Weight>,
        prefix: &str,
        inputs: usize,
        outputs: usize,
    ) -> candle_core::Result<Dense> {
        let (weight, bias) = weight_and_bias(get, prefix, &[outputs, inputs])?;
        Ok(Dense { weight, bias, inputs, outputs })
    }

    /// Query, key and value as one layer of three times the outputs (one pass, one fork).
    fn concat(parts: [Dense; 3]) -> candle_core::Result<Dense> {
        let inputs = parts[0].inputs;
        let outputs = parts.iter().map(|part| part.outputs).sum();
        let weight = Tensor::cat(&[&parts[0].weight.0, &parts[1].weight.0, &parts[2].weight.0], 0)?;
        let bias = Tensor::cat(&[&parts[0].bias.0, &parts[1].bias.0, &parts[2].bias.0], 0)?;
        Ok(Dense {
            weight: Weight::new(weight, &[outputs, inputs])?,
            bias: Weight::new(bias, &[outputs])?,
            inputs,
            outputs,
        })
    }

    /// `rows` rows of `inputs` values in, `rows` rows of `outputs` values out, with the bias
    /// added and then the activation, if any.
    fn forward(&self, x: &[f32], rows: usize, activation: Option<HiddenAct>) -> Vec<f32> {
        debug_assert_eq!(x.len(), rows * self.inputs);
        let inputs = self.inputs;
        // Each task takes a contiguous range of weight rows (output columns) and returns its
        // columns output-major; they are then put in place.
        let tasks = rayon::current_num_threads().max(1);
        let per_task = self.outputs.div_ceil(tasks).next_multiple_of(2).max(2);
        let columns: Vec<Vec<f32>> = self.weight.with(|weight| {
            self.bias.with(|bias| {
                weight
                    .par_chunks(per_task * inputs)
                    .zip(bias.par_chunks(per_task))
                    .map(|(weight, bias)| {
                        let mut values = pulp::Arch::new().dispatch(Product { x, rows, inputs, weight });
                        for (column, bias) in values.chunks_exact_mut(rows).zip(bias) {
                            column.iter_mut().for_each(|value| *value += bias);
                        }
                        if let Some(activation) = activation {
                            activate(activation, &mut values);
                        }
                        values
                    })
                    .collect()
            })
        });
        let mut y = vec![0f32; rows * self.outputs];
        for (task, values) in columns.iter().enumerate() {
            for (local, column) in values.chunks_exact(rows).enumerate() {
                let output = task * per_task + local;
                for (row, value) in column.iter().enumerate() {
                    y[row * self.outputs + output] = *value;
                }
            }
        }
        y
    }
}

/// The products of every row of `x` with every weight row, output-major:
/// `[weight row 0: x row 0, x row 1, …], [weight row 1: …]`.
struct Product<'a> {
    x: &'a [f32],
    rows: usize,
    inputs: usize,
    weight: &'a [f32],
}

impl WithSimd for Product<'_> {
    type Output = Vec<f32>;

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) -> Vec<f32> {
        let Product { x, rows, inputs, weight } = self;
        let outputs = weight.len() / inputs;
        let mut out = vec![0f32; outputs * rows];
        // Two weight rows times up to `most` token rows of accumulators, plus the loads, must
        // fit the registers: 12 rows with AVX-512's 32, 6 with AVX2's 16.
        let most = if S::REGISTER_COUNT >= 32 { 12 } else { 6 };
        let lanes = inputs / S::F32_LANES;
        let vector_part = lanes * S::F32_LANES;
        // The token rows in blocks of `most`, interleaved so the inner loop reads the block's
        // rows from one pointer: block[lane * rows_in_block + row].
        let blocks: Vec<(usize, usize, Vec<S::f32s>)> = (0..rows)
            .step_by(most)
            .map(|first| {
                let take = (rows - first).min(most);
                let mut packed = vec![simd.splat_f32s(0.0); lanes * take];
                for r in 0..take {
                    let row = S::as_simd_f32s(&x[(first + r) * inputs..(first + r + 1) * inputs]).0;
                    for (lane, value) in row.iter().enumerate() {
                        packed[lane * take + r] = *value;
                    }
                }
                (first, take, packed)
            })
            .collect();
        let mut output = 0;
        while output < outputs {
            // Two weight rows at a time (the last one twice when the count is odd); each is
            // read from memory once for all the token rows.
            let w0 = &weight[output * inputs..(output + 1) * inputs];
            let pair = output + 1 < outputs;
            let w1 = if pair { &weight[(output + 1) * inputs..(output + 2) * inputs] } else { w0 };
            for (first, take, packed) in &blocks {
                let mut sums = [[0f32; 2]; 12];
                let (w0_simd, w1_simd) = (&S::as_simd_f32s(w0).0[..lanes], &S::as_simd_f32s(w1).0[..lanes]);
                match take {
                    12 => block::<S, 12>(simd, packed, w0_simd, w1_simd, &mut sums),
                    11 => block::<S, 11>(simd, packed, w0_simd, w1_simd, &mut sums),
                    10 => block::<S, 10>(simd, packed, w0_simd, w1_simd, &mut sums),
                    9 => block::<S, 9>(simd, packed, w0_simd, w1_simd, &mut sums),
                    8 => block::<S, 8>(simd, packed, w0_simd, w1_simd, &mut sums),
                    7 => block::<S, 7>(simd, packed, w0_simd, w1_simd, &mut sums),
                    6 => block::<S, 6>(simd, packed, w0_simd, w1_simd, &mut sums),
                    5 => block::<S, 5>(simd, packed, w0_simd, w1_simd, &mut sums),
                    4 => block::<S, 4>(simd, packed, w0_simd, w1_simd, &mut sums),
                    3 => block::<S, 3>(simd, packed, w0_simd, w1_simd, &mut sums),
                    2 => block::<S, 2>(simd, packed, w0_simd, w1_simd, &mut sums),
                    _ => block::<S, 1>(simd, packed, w0_simd, w1_simd, &mut sums),
                }
                for (offset, [first_sum, second_sum]) in sums.iter().take(*take).enumerate() {
                    let row = first + offset;
                    // Inputs beyond the last whole vector (none for BERT's sizes).
                    let x_row = &x[row * inputs + vector_part..(row + 1) * inputs];
                    let tail = |w: &[f32]| -> f32 { x_row.iter().zip(&w[vector_part..]).map(|(x, w)| x * w).sum() };
                    out[output * rows + row] = first_sum + tail(w0);
                    if pair {
                        out[(output + 1) * rows + row] = second_sum + tail(w1);
                    }
                }
            }
            output += 2;
        }
        out
    }
}

/// Dot products of `R` interleaved token rows with two weight rows, `R × 2` accumulators in
/// registers, into `sums[..R]`.
#[inline(always)]
fn block<S: Simd, const R: usize>(
    simd: S,
    packed: &[S::f32s],
    w0: &[S::f32s],
    w1: &[S::f32s],
    sums: &mut [[f32; 2]; 12],
) {
    let zero = simd.splat_f32s(0.0);
    let mut acc = [[zero; 2]; R];
    for ((&a, &b), xs) in w0.iter().zip(w1).zip(packed.chunks_exact(R)) {
        for r in 0..R {
            acc[r][0] = simd.mul_add_f32s(xs[r], a, acc[r][0]);
            acc[r][1] = simd.mul_add_f32s(xs[r], b, acc[r][1]);
        }
    }
    for r in 0..R {
        sums[r] = [simd.reduce_sum_f32s(acc[r][0]), simd.reduce_sum_f32s(acc[r][1])];
    }
}

/// LayerNorm weights.
struct Norm {
    weight: Weight,
    bias: Weight,
    eps: f32,
}

impl Norm {
    fn load(
        get: &impl Fn(&str, &[usize]) -> candle_core::Result<Weight>,
        prefix: &str,
        size: usize,
        eps: f32,
    ) -> candle_core::Result<Norm> {
        let (weight, bias) = weight_and_bias(get, prefix, &[size])?;
        Ok(Norm { weight, bias, eps })
    }

    /// Normalises each row of `x` in place.
    fn apply(&self, x: &mut [f32], size: usize) {
        self.weight.with(|weight| {
            self.bias.with(|bias| {
                for row in x.chunks_exact_mut(size) {
                    let mean = row.iter().sum::<f32>() / size as f32;
                    let variance = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / size as f32;
                    let scale = 1.0 / (variance + self.eps).sqrt();
                    for ((value, w), b) in row.iter_mut().zip(weight).zip(bias) {
                        *value = (*value - mean) * scale * w + b;
                    }
                }
            })
        })
    }
}

struct Layer {
    qkv: Dense,
    attention_output: Dense,
    attention_norm: Norm,
    intermediate: Dense,
    output: Dense,
    output_norm: Norm,
}

/// The encoder of a BERT model for a single unpadded text.
pub(crate) struct SmallEncoder {
    hidden: usize,
    heads: usize,
    activation: HiddenAct,
    max_positions: usize,
    word: Weight,
    position: Weight,
    token_type: Weight,
    embedding_norm: Norm,
    layers: Vec<Layer>,
}

impl SmallEncoder {
    /// Builds the encoder on the tensors of a loaded model, named as in Hugging Face BERT
    /// checkpoints (`embeddings.…`, `encoder.layer.N.…`) after `prefix`.
    pub(crate) fn new(
        tensors: &std::collections::HashMap<String, Tensor>,
        prefix: &str,
        config: &BertConfig,
    ) -> candle_core::Result<SmallEncoder> {
        if !config.hidden_size.is_multiple_of(config.num_attention_heads) {
            candle_core::bail!(
                "hidden_size {} is not a multiple of the {} heads",
                config.hidden_size,
                config.num_attention_heads
            );
        }
        let get = |name: &str, shape: &[usize]| -> candle_core::Result<Weight> {
            let full = format!("{prefix}{name}");
            let tensor = tensors.get(&full).ok_or_else(|| candle_core::Error::Msg(format!("no tensor {full}")))?;
            Weight::new(tensor.to_dtype(candle_core::DType::F32)?, shape)
        };
        let (hidden, intermediate) = (config.hidden_size, config.intermediate_size);
        let eps = config.layer_norm_eps as f32;
        let layers = (0..config.num_hidden_layers)
            .map(|index| {
                let at = |name: &str| format!("encoder.layer.{index}.{name}");
                Ok(Layer {
                    qkv: Dense::concat([
                        Dense::load(&get, &at("attention.self.query"), hidden, hidden)?,
                        Dense::load(&get, &at("attention.self.key"), hidden, hidden)?,
                        Dense::load(&get, &at("attention.self.value"), hidden, hidden)?,
                    ])?,
                    attention_output: Dense::load(&get, &at("attention.output.dense"), hidden, hidden)?,
                    attention_norm: Norm::load(&get, &at("attention.output.LayerNorm"), hidden, eps)?,
                    intermediate: Dense::load(&get, &at("intermediate.dense"), hidden, intermediate)?,
                    output: Dense::load(&get, &at("output.dense"), intermediate, hidden)?,
                    output_norm: Norm::load(&get, &at("output.LayerNorm"), hidden, eps)?,
                })
            })
            .collect::<candle_core::Result<Vec<Layer>>>()?;
        Ok(SmallEncoder {
            hidden,
            heads: config.num_attention_heads,
            activation: config.hidden_act,
            max_positions: config.max_position_embeddings,
            word: get("embeddings.word_embeddings.weight", &[config.vocab_size, hidden])?,
            position: get("embeddings.position_embeddings.weight", &[config.max_position_embeddings, hidden])?,
            token_type: get("embeddings.token_type_embeddings.weight", &[config.type_vocab_size, hidden])?,
            embedding_norm: Norm::load(&get, "embeddings.LayerNorm", hidden, eps)?,
            layers,
        })
    }

    /// The last hidden states of one text's token ids, `[tokens, hidden]` row-major.
    pub(crate) fn forward(&self, ids: &[u32]) -> Result<Vec<f32>, String> {
        let hidden = self.hidden;
        let tokens = ids.len();
        if tokens > self.max_positions {
            return Err(format!("{tokens} tokens is over the model's {} positions", self.max_positions));
        }
        let mut h = vec![0f32; tokens * hidden];
        self.word.with(|word| {
            self.position.with(|position| {
                self.token_type.with(|token_type| -> Result<(), String> {
                    for (t, &id) in ids.iter().enumerate() {
                        let id = id as usize;
                        let row = word
                            .get(id * hidden..(id + 1) * hidden)
                            .ok_or_else(|| format!("token id {id} is outside the vocabulary"))?;
                        let out = &mut h[t * hidden..(t + 1) * hidden];
                        for (i, value) in out.iter_mut().enumerate() {
                            *value = row[i] + position[t * hidden + i] + token_type[i];
                        }
                    }
                    Ok(())
                })
            })
        })?;
        self.embedding_norm.apply(&mut h, hidden);
        for layer in &self.layers {
            h = self.layer(layer, h, tokens);
        }
        Ok(h)
    }

    fn layer(&self, layer: &Layer, h: Vec<f32>, tokens: usize) -> Vec<f32> {
        let hidden = self.hidden;
        let qkv = layer.qkv.forward(&h, tokens, None);
        let context = self.attention(&qkv, tokens);
        let mut attention = layer.attention_output.forward(&context, tokens, None);
        attention.iter_mut().zip(&h).for_each(|(value, residual)| *value += residual);
        layer.attention_norm.apply(&mut attention, hidden);
        let intermediate = layer.intermediate.forward(&attention, tokens, Some(self.activation));
        let mut output = layer.output.forward(&intermediate, tokens, None);
        output.iter_mut().zip(&attention).for_each(|(value, residual)| *value += residual);
        layer.output_norm.apply(&mut output, hidden);
        output
    }

    /// Multi-head self-attention over `[tokens, 3 × hidden]` (query, key, value per token);
    /// no mask, since a single text has no padding.
    fn attention(&self, qkv: &[f32], tokens: usize) -> Vec<f32> {
        let hidden = self.hidden;
        let size = hidden / self.heads;
        let scale = 1.0 / (size as f32).sqrt();
        let stride = 3 * hidden;
        let mut context = vec![0f32; tokens * hidden];
        let mut scores = vec![0f32; tokens];
        for head in 0..self.heads {
            let offset = head * size;
            for i in 0..tokens {
                let query = &qkv[i * stride + offset..i * stride + offset + size];
                for (j, score) in scores.iter_mut().enumerate() {
                    let key = &qkv[j * stride + hidden + offset..j * stride + hidden + offset + size];
                    *score = query.iter().zip(key).map(|(q, k)| q * k).sum::<f32>() * scale;
                }
                let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let mut total = 0f32;
                for score in scores.iter_mut() {
                    *score = (*score - max).exp();
                    total += *score;
                }
                let out = &mut context[i * hidden + offset..i * hidden + offset + size];
                for (j, score) in scores.iter().enumerate() {
                    let weight = score / total;
                    let value = &qkv[j * stride + 2 * hidden + offset..j * stride + 2 * hidden + offset + size];
                    out.iter_mut().zip(value).for_each(|(o, v)| *o += weight * v);
                }
            }
        }
        context
    }
}

fn activate(activation: HiddenAct, values: &mut [f32]) {
    match activation {
        HiddenAct::Gelu => {
            values.iter_mut().for_each(|x| *x = 0.5 * *x * (1.0 + libm::erff(*x * std::f32::consts::FRAC_1_SQRT_2)))
        }
        HiddenAct::GeluApproximate => values.iter_mut().for_each(|x| {
            let inner = (2.0 / std::f32::consts::PI).sqrt() * (*x + 0.044715 * *x * *x * *x);
            *x = 0.5 * *x * (1.0 + inner.tanh());
        }),
        HiddenAct::Relu => values.iter_mut().for_each(|x| *x = x.max(0.0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Odd shapes the model never has (inputs not a multiple of the vector width, an odd number
    /// of outputs, rows beyond one register block) against the plain definition.
    #[test]
    fn dense_matches_the_definition_on_odd_shapes() {
        for (rows, inputs, outputs) in [(1, 3, 1), (13, 37, 5), (25, 64, 7), (12, 384, 384)] {
            let value = |i: usize| ((i * 7919) % 201) as f32 / 100.0 - 1.0;
            let x: Vec<f32> = (0..rows * inputs).map(value).collect();
            let w: Vec<f32> = (0..outputs * inputs).map(|i| value(i + 11)).collect();
            let b: Vec<f32> = (0..outputs).map(|i| value(i + 5)).collect();
            let dense = Dense {
                weight: Weight::new(
                    Tensor::from_vec(w.clone(), (outputs, inputs), &candle_core::Device::Cpu).unwrap(),
                    &[outputs, inputs],
                )
                .unwrap(),
                bias: Weight::new(Tensor::from_vec(b.clone(), outputs, &candle_core::Device::Cpu).unwrap(), &[outputs])
                    .unwrap(),
                inputs,
                outputs,
            };
            let y = dense.forward(&x, rows, None);
            for row in 0..rows {
                for output in 0..outputs {
                    let want: f32 =
                        b[output] + (0..inputs).map(|k| x[row * inputs + k] * w[output * inputs + k]).sum::<f32>();
                    let got = y[row * outputs + output];
                    assert!(
                        (got - want).abs() <= 1e-3 * want.abs().max(1.0),
                        "{rows}x{inputs}x{outputs} [{row},{output}]: {got} != {want}"
                    );
                }
            }
            let relu = dense.forward(&x, rows, Some(HiddenAct::Relu));
            assert!(relu.iter().zip(&y).all(|(r, v)| *r == v.max(0.0)));
        }
    }
}
