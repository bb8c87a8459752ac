//! TopCA benchmarks: criterion benches of raw signing and of full certificate
//! issuance per algorithm (`cargo bench -p topca-benches`), and a comparison with
//! `openssl speed` on the same machine in the same run (`scripts/bench`).
