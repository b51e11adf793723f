//! How fast KV moves from a prefill worker to a decode worker: the link's rate and setup time, from
//! the hardware profile's measured link of the chosen backend (its source is next to each number in
//! [`HardwareProfile::h100_sxm`]). The simulator shares this rate among a link's concurrent
//! transfers; a new KV backend or transfer model changes this file and the profile, not the
//! simulator.

use crate::spec::deployment::{KvBackend, Parallelism};
use crate::spec::hardware::HardwareProfile;

/// One prefill worker's KV link as the simulator runs it.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct KvLinkRate {
    /// Bytes per nanosecond when one transfer has the link to itself.
    pub bytes_per_ns: f64,
    /// Handshake before the first byte moves.
    pub setup_ns: u64,
}

/// The link a KV transfer takes, with its parallel lanes: each GPU of the smaller TP group moves its
/// shard on its own NIC (RDMA, TCP) or NVLink port.
pub fn kv_link_lanes(prefill_tp: u32, decode_tp: u32) -> u32 {
    prefill_tp.min(decode_tp).max(1)
}

/// `bytes_per_ns = lanes x per-GPU bandwidth / 1e9`, `lanes = max(1, min(prefill TP, decode TP))`;
/// setup as measured for the backend (`HardwareProfile::kv_link`).
pub fn kv_link_rate(hw: &HardwareProfile, backend: KvBackend, prefill: Parallelism, decode: Parallelism) -> KvLinkRate {
    let link = hw.kv_link(backend);
    let lanes = kv_link_lanes(prefill.tp, decode.tp);
    KvLinkRate { bytes_per_ns: lanes as f64 * link.bytes_per_s_per_gpu / 1e9, setup_ns: link.setup_ns }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lanes_are_the_smaller_tp_group_and_scale_the_rate() {
        let hw = HardwareProfile::h100_sxm();
        let one = kv_link_rate(&hw, KvBackend::Nixl, Parallelism::tp(1), Parallelism::tp(8));
        let four = kv_link_rate(&hw, KvBackend::Nixl, Parallelism::tp(4), Parallelism::tp(8));
        assert_eq!(kv_link_lanes(8, 4), 4);
        assert_eq!(kv_link_lanes(0, 0), 1);
        assert!((four.bytes_per_ns / one.bytes_per_ns - 4.0).abs() < 1e-12);
        // 144 GB/s over 8 NICs (vLLM MooncakeConnector fit, see the profile): 18 bytes/ns per lane
        assert!((one.bytes_per_ns - 18.0).abs() < 1e-9);
        assert_eq!(one.setup_ns, hw.rdma.setup_ns);
        assert!(
            kv_link_rate(&hw, KvBackend::Tcp, Parallelism::tp(4), Parallelism::tp(4)).bytes_per_ns < four.bytes_per_ns
        );
    }
}
