# Kept one block per variable (issue 14): each is one setting with its own description, type and check; the blocks
# (and those of the other clouds' modules) are alike in shape only, and Terraform has no way to declare them together.

variable "project_id" {
  description = "Google Cloud project id that holds the functions, topics and secrets."
  type        = string
}

variable "region" {
  description = "Region of the functions, their Eventarc trigger and the source bucket (for example europe-west1)."
  type        = string
  default     = "europe-west1"
}

variable "name_prefix" {
  description = "Prefix of every resource name: functions, topics, subscriptions, secrets, service accounts, the Redis instance and the VPC connector."
  type        = string
  default     = "mailroute"
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,17}$", var.name_prefix))
    error_message = "name_prefix must be 3-18 lower-case letters, digits or hyphens, starting with a letter (service account ids are limited to 30 characters)."
  }
}

variable "source_zip" {
  description = "Path of the function source zip that `node infra/gcp/package.ts` writes (dist/gcp/mailroute-gcp-source.zip); uploaded to the source bucket under a name with its MD5, so a new build redeploys both functions."
  type        = string
}

variable "gmail_mode" {
  description = "How the default configuration sends: \"smtp\" (the Workspace SMTP relay smtp-relay.gmail.com) or \"api\" (Gmail API users.messages.send with domain-wide delegation). Ignored when mailroute_config is set."
  type        = string
  default     = "smtp"
  validation {
    condition     = contains(["smtp", "api"], var.gmail_mode)
    error_message = "gmail_mode must be \"smtp\" or \"api\"."
  }
}

variable "gmail_domain" {
  description = "Your Workspace domain (example.com): the EHLO name the relay expects. Required for gmail_mode \"smtp\" unless mailroute_config is set."
  type        = string
  default     = null
}

variable "gmail_relay_auth" {
  description = "How the relay knows the function: \"password\" (SMTP AUTH as gmail_relay_username, its app password in the GMAIL_RELAY_PASSWORD secret) or \"none\" (IP allowlist: needs a static egress IP through Serverless VPC Access and Cloud NAT, not made by this module)."
  type        = string
  default     = "password"
  validation {
    condition     = contains(["password", "none"], var.gmail_relay_auth)
    error_message = "gmail_relay_auth must be \"password\" or \"none\"."
  }
}

variable "gmail_relay_username" {
  description = "Workspace user the relay authenticates (SMTP AUTH) with gmail_relay_auth \"password\"; set as the GMAIL_RELAY_USER environment variable (not a secret)."
  type        = string
  default     = null
}

variable "gmail_api_user" {
  description = "Workspace user the Gmail API sends as (the delegated subject) with gmail_mode \"api\"."
  type        = string
  default     = null
}

variable "gmail_api_service_account_email" {
  description = "Client email of the service account with domain-wide delegation for gmail.send (gmail_mode \"api\"); its private key goes into the GMAIL_SA_PRIVATE_KEY secret."
  type        = string
  default     = null
}

variable "mailroute_config" {
  description = "A whole routing configuration (JSON or YAML text) instead of the Gmail default: any provider, routes, failover, a cross-cloud store. Secrets only as { env: NAME }, each NAME listed in extra_secret_env_names. A store named here wins over the Redis one (MAILROUTE_STORE_REDIS_URL)."
  type        = string
  default     = null
}

variable "extra_secret_env_names" {
  description = "Environment variable names of further secrets (for mailroute_config): one Secret Manager secret each, readable by the runtime service account only, mounted as that variable."
  type        = list(string)
  default     = []
  validation {
    condition     = alltrue([for name in var.extra_secret_env_names : can(regex("^[A-Z_][A-Z0-9_]*$", name))])
    error_message = "extra_secret_env_names must be upper-case environment variable names (A-Z, 0-9, _)."
  }
}

variable "http_mode" {
  description = "What POST /v1/send does when the request does not say: \"send\" now, or \"enqueue\" to the send topic (202). Both work per request with ?mode=."
  type        = string
  default     = "send"
  validation {
    condition     = contains(["send", "enqueue"], var.http_mode)
    error_message = "http_mode must be \"send\" or \"enqueue\"."
  }
}

variable "http_ingress" {
  description = "Where the HTTP function takes requests from: ALLOW_ALL (still IAM-only), ALLOW_INTERNAL_ONLY (VPC and Google services) or ALLOW_INTERNAL_AND_GCLB."
  type        = string
  default     = "ALLOW_ALL"
  validation {
    condition     = contains(["ALLOW_ALL", "ALLOW_INTERNAL_ONLY", "ALLOW_INTERNAL_AND_GCLB"], var.http_ingress)
    error_message = "http_ingress must be ALLOW_ALL, ALLOW_INTERNAL_ONLY or ALLOW_INTERNAL_AND_GCLB."
  }
}

variable "http_invoker_members" {
  description = "Principals allowed to call the HTTP function (roles/run.invoker on its service only), such as serviceAccount:app@p.iam.gserviceaccount.com. Never allUsers or allAuthenticatedUsers."
  type        = list(string)
  default     = []
  validation {
    condition     = alltrue([for m in var.http_invoker_members : !contains(["allUsers", "allAuthenticatedUsers"], m)])
    error_message = "The HTTP function is IAM-only: allUsers and allAuthenticatedUsers are refused."
  }
}

variable "public_unsubscribe" {
  description = "Deploy the public entry of the one-click unsubscribe links: a third function (entry point mailrouteUnsubscribe) that anyone may invoke (allUsers run.invoker) and that serves GET|POST /v1/unsubscribe only; its URL (output unsubscribe_base_url) is the configuration's unsubscribe.baseUrl. The http function stays IAM-only either way."
  type        = bool
  default     = false
}

variable "producer_members" {
  description = "Principals allowed to publish to the send topic (roles/pubsub.publisher on that topic only): the services that use createPubSubProducer."
  type        = list(string)
  default     = []
  validation {
    condition     = alltrue([for m in var.producer_members : !contains(["allUsers", "allAuthenticatedUsers"], m)])
    error_message = "allUsers and allAuthenticatedUsers may not publish to the send topic."
  }
}

variable "timeout_seconds" {
  description = "Timeout of both functions, also given to them as MAILROUTE_TIMEOUT_SECONDS so a send stops in time (at most 540 for the event-driven one)."
  type        = number
  default     = 60
  validation {
    condition     = var.timeout_seconds >= 10 && var.timeout_seconds <= 540
    error_message = "timeout_seconds must be from 10 to 540."
  }
}

variable "memory" {
  description = "Memory of each function instance (Cloud Run format, for example 512Mi)."
  type        = string
  default     = "512Mi"
}

variable "max_instances" {
  description = "Most instances of each function: with queue_concurrency, the bound on parallel sends; keep it under what your Gmail quota allows."
  type        = number
  default     = 5
}

variable "queue_concurrency" {
  description = "Pub/Sub messages one queue instance handles at once (more than 1 gives the instance a whole CPU)."
  type        = number
  default     = 1
}

variable "max_delivery_attempts" {
  description = "Deliveries of one message (5-100) before Pub/Sub moves it to the dead-letter topic."
  type        = number
  default     = 5
  validation {
    condition     = var.max_delivery_attempts >= 5 && var.max_delivery_attempts <= 100
    error_message = "max_delivery_attempts must be from 5 to 100 (Pub/Sub's range)."
  }
}

variable "failed_retention_days" {
  description = "Days the failed and dead-letter subscriptions keep unacknowledged messages for inspection or replay (1-7)."
  type        = number
  default     = 7
  validation {
    condition     = var.failed_retention_days >= 1 && var.failed_retention_days <= 7
    error_message = "failed_retention_days must be from 1 to 7."
  }
}

variable "dead_letter_via_gcloud" {
  description = "Set the dead-letter policy on the Eventarc subscription with gcloud during apply (needs gcloud where Terraform runs); false to run the documented commands yourself."
  type        = bool
  default     = true
}

variable "redis_enabled" {
  description = "Create a Memorystore for Redis instance (AUTH on, TLS) as both functions' shared state store: idempotency records, health marks and rate limits, so a Pub/Sub redelivery reaching another instance is not sent twice. false: no instance, and the state is per instance unless redis_url_secret_id or a store in mailroute_config is given. Ignored when redis_url_secret_id is set."
  type        = bool
  default     = true
}

variable "redis_url_secret_id" {
  description = "Id (in project_id) of an existing Secret Manager secret whose latest version is the URL of a Redis to use instead of creating one: redis://[:password@]host:port, or rediss:// for TLS. Mounted as MAILROUTE_STORE_REDIS_URL, the runtime account granted secretAccessor on it; no instance and no URL secret are made."
  type        = string
  default     = null
  validation {
    condition     = var.redis_url_secret_id == null || can(regex("^[A-Za-z0-9_-]{1,255}$", var.redis_url_secret_id))
    error_message = "redis_url_secret_id is a secret id (letters, digits, - and _), not a projects/... name."
  }
}

variable "redis_ca_secret_id" {
  description = "With redis_url_secret_id: id of an existing secret holding the PEM CA certificate(s) the Redis server's TLS certificate chains to (an existing Memorystore instance with in-transit encryption), mounted as a file that NODE_EXTRA_CA_CERTS names. Not needed for a publicly trusted certificate; the instance made here brings its own."
  type        = string
  default     = null
  validation {
    condition     = var.redis_ca_secret_id == null || can(regex("^[A-Za-z0-9_-]{1,255}$", var.redis_ca_secret_id))
    error_message = "redis_ca_secret_id is a secret id (letters, digits, - and _), not a projects/... name."
  }
}

variable "redis_tier" {
  description = "Memorystore tier: STANDARD_HA (a replica in another zone, automatic failover) or BASIC (one node: a zone outage or maintenance loses the state, so idempotency records too)."
  type        = string
  default     = "STANDARD_HA"
  validation {
    condition     = contains(["STANDARD_HA", "BASIC"], var.redis_tier)
    error_message = "redis_tier must be STANDARD_HA or BASIC."
  }
}

variable "redis_memory_size_gb" {
  description = "Memorystore capacity in GiB (1 is far more than the state of one mailroute deployment needs)."
  type        = number
  default     = 1
  validation {
    condition     = var.redis_memory_size_gb >= 1
    error_message = "redis_memory_size_gb must be at least 1."
  }
}

variable "redis_version" {
  description = "Memorystore Redis version, such as REDIS_7_2 or REDIS_7_0."
  type        = string
  default     = "REDIS_7_2"
}

variable "vpc_network" {
  description = "Name of the project's VPC network the Memorystore instance is authorized on and the Serverless VPC Access connector attaches to."
  type        = string
  default     = "default"
}

variable "vpc_connector_cidr" {
  description = "An unused /28 range of vpc_network for the Serverless VPC Access connector the functions reach Redis through (private ranges only; everything else still leaves directly). null: no connector, only for an existing Redis (redis_url_secret_id) reachable without the VPC."
  type        = string
  default     = "10.8.0.0/28"
  validation {
    condition     = var.vpc_connector_cidr == null || can(regex("^[0-9]{1,3}(\\.[0-9]{1,3}){3}/28$", var.vpc_connector_cidr))
    error_message = "vpc_connector_cidr must be a /28 range such as 10.8.0.0/28."
  }
}

variable "labels" {
  description = "Labels put on the topics, subscriptions, secrets, bucket, functions and the Redis instance."
  type        = map(string)
  default     = {}
}
