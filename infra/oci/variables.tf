# Kept one block per variable (issue 14): each is one setting with its own description, type and check; the blocks
# (and those of the other clouds' modules) are alike in shape only, and Terraform has no way to declare them together.

variable "tenancy_ocid" {
  type        = string
  description = "OCID of the tenancy: dynamic groups live at its root."
}

variable "compartment_ocid" {
  type        = string
  description = "OCID of the compartment for every mailroute resource; the policies grant access in this compartment only, so give mailroute a compartment of its own."
}

variable "region" {
  type        = string
  description = "OCI region identifier, such as eu-frankfurt-1: the provider's region, the queues', the function's and the Email Delivery endpoint's."
}

variable "name_prefix" {
  type        = string
  default     = "mailroute"
  description = "Prefix of every display name (queues, function, connector, gateway, secrets, dynamic group, policy)."
}

variable "function_image" {
  type        = string
  description = "The function image pushed to OCIR, such as fra.ocir.io/<namespace>/mailroute/mailroute:0.1.0 (see README: bundle, fn build, docker push)."
}

variable "function_subnet_id" {
  type        = string
  description = "Subnet of the functions application; it needs a service gateway (All Services in Oracle Services Network) or a NAT gateway to reach Email Delivery, Queue and Vault, and the SMTP or API endpoints of any other provider configured."
}

variable "gateway_subnet_id" {
  type        = string
  description = "Subnet of the API gateway (a public subnet for a PUBLIC gateway), with ingress on TCP 443."
}

variable "function_memory_mb" {
  type        = number
  default     = 512
  description = "Memory of the function, in MB."
}

variable "function_timeout_seconds" {
  type        = number
  default     = 120
  description = "Function timeout in seconds (at most 300). A batch must be sent within it; Fn-Deadline less one second is the send deadline."
}

variable "send_queue_max_deliveries" {
  type        = number
  default     = 5
  description = "dead_letter_queue_delivery_count of the send queue: after this many deliveries a message moves to the queue's own dead-letter queue. Connector Hub counts a delivery for every message of a batch whose invocation failed."
}

variable "send_queue_visibility_seconds" {
  type        = number
  default     = 300
  description = "Visibility timeout of the send queue, in seconds: longer than the function timeout, so a batch in flight is not delivered twice."
}

variable "queue_retention_seconds" {
  type        = number
  default     = 345600
  description = "How long the send and failed queues keep a message, in seconds (OCI allows up to 7 days, 604800)."
}

variable "connector_batch_size" {
  type        = number
  default     = 1
  description = "Connector Hub batch size in messages (batch_size_in_num). A batch is flushed when it is full or after connector_batch_seconds, whichever comes first, so 1 delivers at once; and one record to retry sends its whole batch back, so 1 also isolates throttled messages. Raise it for throughput (fewer invocations) at the cost of latency."
}

variable "connector_batch_seconds" {
  type        = number
  default     = 60
  description = "Connector Hub batch time in seconds (batch_time_in_sec): how long a partly filled batch waits. Reported (not verified here) to be refused below 60."
  validation {
    condition     = var.connector_batch_seconds >= 60
    error_message = "Connector Hub is reported to refuse batch_time_in_sec below 60."
  }
}

variable "connector_count" {
  type        = number
  default     = 1
  description = "Connectors reading the send queue. Each connector invokes the function one batch at a time, so more connectors mean parallel invocations."
}

variable "send_concurrency" {
  type        = number
  default     = 10
  description = "Records of a batch sent at once by the function (MAILROUTE_CONCURRENCY)."
}

variable "http_mode" {
  type        = string
  default     = "send"
  description = "What POST /v1/send does by default: send (now, 200) or enqueue (put on the send queue, 202). ?mode= and Prefer: respond-async still choose per request."
  validation {
    condition     = contains(["send", "enqueue"], var.http_mode)
    error_message = "http_mode must be send or enqueue."
  }
}

variable "api_path_prefix" {
  type        = string
  default     = "/mailroute"
  description = "Path prefix of the API gateway deployment: the route is <gateway>/<prefix>/v1/send."
}

variable "jwt_issuer" {
  type        = string
  description = "Issuer (iss) of the JWTs the API gateway accepts, such as https://identity.oraclecloud.com/ for an OCI IAM identity domain."
}

variable "jwt_audience" {
  type        = string
  description = "Audience (aud) the JWTs must carry, such as the identity domain's URL or your resource server's."
}

variable "jwt_jwks_uri" {
  type        = string
  description = "JWKS URL with the keys that sign the JWTs, such as <identity domain URL>/admin/v1/SigningCert/jwk."
}

variable "vault_id" {
  type        = string
  description = "OCID of an existing OCI Vault that holds mailroute's secrets."
}

variable "vault_key_id" {
  type        = string
  description = "OCID of the vault's master encryption key (AES) that encrypts the secrets."
}

variable "secrets" {
  type        = map(string)
  default     = {}
  sensitive   = true
  description = "Secret values by short name (such as smtp_password), stored as Vault secrets named <name_prefix>-<name>; refer to them in mailroute_config as $${secrets.<name>}. They are in the Terraform state: keep the state encrypted, or leave this empty and create the secrets yourself."
}

variable "mailroute_config" {
  type        = string
  description = "The routing configuration (JSON or YAML) as a Terraform template: $${secrets.<name>} becomes a Vault secret OCID, $${compartment_id} and $${region} this module's. Write secret fields as { \"ociVault\": \"$${secrets.smtp_password}\" }. It is stored as a Vault secret itself (function configuration is limited in size)."
}

variable "email_domain" {
  type        = string
  description = "The domain you send from, such as example.com: an Email Delivery email domain with DKIM."
}

variable "sender_address" {
  type        = string
  description = "The approved sender (From address) in this region and compartment, such as noreply@example.com; every address you send from needs one."
}

variable "dkim_selector" {
  type        = string
  description = "DKIM selector, unique for the domain across regions, such as mailroute-fra-202611."
}

variable "redis_enabled" {
  type        = bool
  default     = true
  description = "Create an OCI Cache cluster (Redis, TLS) as the function's shared state store: idempotency records, health marks and rate limits, so a Connector Hub redelivery reaching another container is not sent twice. false: no cluster, and the state is per container unless redis_url_secret_id or a store in mailroute_config is given. Ignored when redis_url_secret_id is set."
}

variable "redis_url_secret_id" {
  type        = string
  default     = null
  description = "OCID of an existing Vault secret whose content is the URL of a Redis to use instead of creating a cluster: rediss://[:password@]host:port (redis:// without TLS). Set as MAILROUTE_STORE_REDIS_URL_SECRET, readable by the function (policy by this OCID); no cluster, network security group or secret is made. The secret must be in compartment_ocid."
  validation {
    condition     = var.redis_url_secret_id == null || can(regex("^ocid1\\.vaultsecret\\.", var.redis_url_secret_id))
    error_message = "redis_url_secret_id must be a Vault secret OCID (ocid1.vaultsecret...)."
  }
}

variable "redis_subnet_id" {
  type        = string
  default     = null
  description = "Subnet of the OCI Cache cluster; default: function_subnet_id. Another subnet must be routable from the function's subnet; the cluster's network security group admits TCP 6379 from the function's subnet CIDR only."
}

variable "redis_node_count" {
  type        = number
  default     = 2
  description = "Nodes of the OCI Cache cluster (1-5): one primary and the rest replicas, in other fault or availability domains. 1 is cheaper but a node failure empties the store, idempotency records included."
  validation {
    condition     = var.redis_node_count >= 1 && var.redis_node_count <= 5
    error_message = "redis_node_count must be from 1 to 5."
  }
}

variable "redis_node_memory_gb" {
  type        = number
  default     = 2
  description = "Memory of each OCI Cache node in GB (the state of one mailroute deployment needs far less than the smallest size)."
  validation {
    condition     = var.redis_node_memory_gb > 0
    error_message = "redis_node_memory_gb must be positive."
  }
}

variable "redis_software_version" {
  type        = string
  default     = "REDIS_7_0"
  description = "OCI Cache engine version (software_version), such as REDIS_7_0, V7_0_5 or VALKEY_7_2."
}

variable "delivery_events" {
  type        = bool
  default     = true
  description = "Take in delivery events: enable the email domain's Email Delivery logs (outboundaccepted, outboundrelayed) in a log group, and a Connector Hub connector from them to the function, which applies bounces, complaints and unsubscribes to the suppression list every provider shares. false: none of these are made."
}

variable "email_domain_id" {
  type        = string
  default     = null
  description = "OCID of the Email Delivery email domain whose logs carry the events, when it is not this module's own (a domain another deployment sends from). Null: this module's oci_email_email_domain.mailroute. The domain must be in compartment_ocid."
  validation {
    condition     = var.email_domain_id == null || can(regex("^ocid1\\.emaildomain\\.", var.email_domain_id))
    error_message = "email_domain_id must be an email domain OCID (ocid1.emaildomain...)."
  }
}

variable "events_log_retention_days" {
  type        = number
  default     = 30
  description = "How long OCI Logging keeps the Email Delivery logs, in days (30 to 180, a multiple of 30): the window in which events Connector Hub could not deliver can still be replayed."
  validation {
    condition     = var.events_log_retention_days >= 30 && var.events_log_retention_days <= 180 && var.events_log_retention_days % 30 == 0
    error_message = "events_log_retention_days must be 30, 60, 90, 120, 150 or 180."
  }
}

variable "events_batch_size" {
  type        = number
  default     = 100
  description = "Log records per invocation of the delivery events connector (batch_size_in_num); a partly filled batch waits connector_batch_seconds. Events are applied one by one within a batch, so a large batch only costs time."
}
