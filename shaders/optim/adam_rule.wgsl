// One Adam step for one element (appended to the Adam kernels, which declare `p`): the
// gradient already scaled, L2 weight decay added to it, the bias corrections 1 - beta^t
// from the host. Returns (param, m, v) after the step.
fn adam_step(scaled_grad: f32, param: f32, m: f32, v: f32) -> vec3<f32> {
    let g = scaled_grad + p.weight_decay * param;
    let m_new = p.beta1 * m + (1.0 - p.beta1) * g;
    let v_new = p.beta2 * v + (1.0 - p.beta2) * g * g;
    let m_hat = m_new / p.bias_correction1;
    let v_hat = v_new / p.bias_correction2;
    return vec3<f32>(param - p.lr * m_hat / (sqrt(v_hat) + p.eps), m_new, v_new);
}
