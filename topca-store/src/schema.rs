//! The tables, as diesel sees them (the SQL is in `migrations/`).

diesel::table! {
    accounts (id) {
        id -> BigInt,
        organization -> Text,
        unit -> Text,
        search_text -> Text,
        certificate_type -> Integer,
        verification -> Integer,
        algorithm -> Text,
        validity_days -> Integer,
        service_url -> Text,
        language -> Integer,
    }
}

diesel::table! {
    requests (id) {
        id -> BigInt,
        account_id -> BigInt,
        kind -> Integer,
        state -> Integer,
        holder_name -> Text,
        holder_email -> Text,
        holder_phone -> Nullable<Text>,
        holder_state -> Nullable<Text>,
        holder_locality -> Nullable<Text>,
        password_hash -> Nullable<Text>,
        pin_hash -> Nullable<Binary>,
        pin_expires -> Nullable<BigInt>,
        submitted_at -> BigInt,
        reject_reason -> Nullable<Text>,
        issued_serial -> Nullable<Text>,
        csr -> Nullable<Binary>,
        previous_serial -> Nullable<Text>,
        version -> BigInt,
        public_ref -> Text,
    }
}

diesel::table! {
    holder_attempts (request_id, source) {
        request_id -> BigInt,
        source -> Text,
        attempts -> Integer,
        window_ends -> BigInt,
    }
}

diesel::table! {
    certificates (serial) {
        serial -> Text,
        account_id -> Nullable<BigInt>,
        request_id -> Nullable<BigInt>,
        holder_name -> Text,
        email -> Text,
        email_lower -> Text,
        subject -> Text,
        issuer -> Text,
        usage -> Integer,
        not_before -> BigInt,
        not_after -> BigInt,
        status -> Integer,
        revoked_at -> Nullable<BigInt>,
        revocation_reason -> Nullable<Integer>,
        der -> Binary,
    }
}

diesel::table! {
    crls (number) {
        number -> BigInt,
        delta_base -> Nullable<BigInt>,
        this_update -> BigInt,
        next_update -> BigInt,
        der -> Binary,
    }
}

diesel::table! {
    escrowed_keys (encryption_serial) {
        encryption_serial -> Text,
        signing_serial -> Text,
        email -> Text,
        email_lower -> Text,
        master_key_id -> Binary,
        nonce -> Binary,
        ciphertext -> Binary,
        escrowed_at -> BigInt,
    }
}

diesel::table! {
    recoveries (id) {
        id -> BigInt,
        encryption_serial -> Text,
        email -> Text,
        holder_name -> Text,
        requested_by -> Text,
        requested_at -> BigInt,
        reason -> Text,
        state -> Integer,
        decided_by -> Nullable<Text>,
        code_hash -> Nullable<Binary>,
        code_expires -> Nullable<BigInt>,
        failed_attempts -> Integer,
        version -> BigInt,
        public_id -> Text,
    }
}

diesel::table! {
    audit_entries (sequence) {
        sequence -> BigInt,
        at -> BigInt,
        actor_kind -> Integer,
        actor_name -> Text,
        action -> Integer,
        target -> Text,
        outcome -> Integer,
        detail -> Text,
        previous_hash -> Binary,
        hash -> Binary,
    }
}

diesel::table! {
    topca_schema (version) {
        version -> BigInt,
    }
}

diesel::table! {
    admins (name) {
        name -> Text,
        password_hash -> Text,
        roles -> Text,
        failed_logins -> Integer,
        locked_until -> Nullable<BigInt>,
        version -> BigInt,
        certificate_sha256 -> Nullable<Text>,
        quarantine_from -> Nullable<BigInt>,
    }
}

diesel::table! {
    account_policies (account_id) {
        account_id -> BigInt,
        allowed_domains -> Text,
        allow_wildcards -> Bool,
        allow_ip_addresses -> Bool,
        max_names -> Integer,
    }
}

diesel::table! {
    settings (name) {
        name -> Text,
        value -> Text,
    }
}

diesel::table! {
    admin_sessions (token_hash) {
        token_hash -> Binary,
        admin -> Text,
        opened -> BigInt,
        last_used -> BigInt,
    }
}

diesel::table! {
    mail_outbox (id) {
        id -> BigInt,
        recipient -> Text,
        sealed -> Binary,
        attempts -> Integer,
        next_attempt -> BigInt,
    }
}

diesel::table! {
    issuances (serial) {
        serial -> Text,
        tbs_sha256 -> Binary,
        profile -> Text,
        requester_kind -> Integer,
        requester_name -> Text,
        account_id -> Nullable<BigInt>,
        request_id -> Nullable<BigInt>,
        reserved_at -> BigInt,
        issued -> Bool,
    }
}

diesel::table! {
    machine_clients (id) {
        id -> BigInt,
        name -> Text,
        account_id -> BigInt,
        profiles -> Text,
        allowed_names -> Text,
        validity_days -> Integer,
        token_hash -> Binary,
        created -> BigInt,
        revoked -> Nullable<BigInt>,
    }
}

diesel::table! {
    ocsp_responses (serial) {
        serial -> Text,
        der -> Binary,
        this_update -> BigInt,
        next_update -> BigInt,
        revoked -> Bool,
    }
}

diesel::table! {
    acme_nonces (nonce) {
        nonce -> Text,
        expires -> BigInt,
    }
}

diesel::table! {
    acme_accounts (id) {
        id -> Text,
        profile -> Text,
        thumbprint -> Text,
        jwk -> Text,
        contact -> Text,
        status -> SmallInt,
        created -> BigInt,
    }
}

diesel::table! {
    acme_orders (id) {
        id -> Text,
        account_id -> Text,
        identifiers -> Text,
        status -> SmallInt,
        expires -> BigInt,
        error -> Nullable<Text>,
        certificate -> Nullable<Text>,
        profile -> Nullable<Text>,
    }
}

diesel::table! {
    acme_order_counts (limit_key, window_number) {
        limit_key -> Text,
        window_number -> BigInt,
        hits -> Integer,
    }
}

diesel::table! {
    acme_authorizations (id) {
        id -> Text,
        order_id -> Text,
        position -> Integer,
        identifier -> Text,
        status -> SmallInt,
        expires -> BigInt,
    }
}

diesel::table! {
    acme_challenges (id) {
        id -> Text,
        authorization_id -> Text,
        kind -> Text,
        token -> Text,
        status -> SmallInt,
        validated -> Nullable<BigInt>,
        error -> Nullable<Text>,
    }
}

diesel::table! {
    cmp_credentials (reference) {
        reference -> Text,
        account_id -> BigInt,
        sealed_secret -> Binary,
        created -> BigInt,
        revoked -> Nullable<BigInt>,
        last_used -> Nullable<BigInt>,
    }
}

diesel::table! {
    cmp_transactions (transaction_id) {
        transaction_id -> Binary,
        sender -> Text,
        nonce -> Binary,
        serial -> Nullable<Text>,
        request_id -> Nullable<BigInt>,
        state -> Text,
        started -> BigInt,
    }
}

diesel::table! {
    acme_eab_keys (key_id) {
        key_id -> Text,
        profile -> Text,
        sealed_key -> Binary,
        created -> BigInt,
        account_id -> Nullable<Text>,
        revoked -> Nullable<BigInt>,
    }
}
