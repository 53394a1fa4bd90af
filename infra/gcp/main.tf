# mailroute on Google Cloud: a Pub/Sub-triggered function (Eventarc, retries on), an IAM-only HTTP function, the
# send / failed / dead-letter topics, Secret Manager secrets mounted as environment variables, a runtime
# service account whose every grant is on one resource, and the shared state store (Memorystore for Redis behind a
# Serverless VPC Access connector, or an existing Redis by its URL secret). See README.md for the deploy commands.

data "google_project" "this" {
  project_id = var.project_id
}

locals {
  # Pub/Sub's own service agent: it moves messages to the dead-letter topic and signs the push tokens.
  pubsub_agent = "service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"

  relay_with_password = var.mailroute_config == null && var.gmail_mode == "smtp" && var.gmail_relay_auth == "password"

  # The default configuration: the Gmail relay, or the Gmail API. Secrets are { env } references to variables
  # Cloud Functions fills from Secret Manager (secret_environment_variables below).
  gmail_relay = merge(
    { name = "gmail-relay", provider = "gmail", mode = "smtp", domain = var.gmail_domain, smtpAuth = var.gmail_relay_auth },
    local.relay_with_password ? {
      smtpCredentials = { username = { env = "GMAIL_RELAY_USER" }, password = { env = "GMAIL_RELAY_PASSWORD" } }
    } : {},
  )
  gmail_api = {
    name     = "gmail-api"
    provider = "gmail"
    mode     = "api"
    user     = var.gmail_api_user
    serviceAccount = {
      clientEmail = var.gmail_api_service_account_email
      privateKey  = { env = "GMAIL_SA_PRIVATE_KEY" }
    }
  }
  config_text = var.mailroute_config != null ? var.mailroute_config : (
    var.gmail_mode == "api" ? jsonencode({ providers = [local.gmail_api] }) : jsonencode({ providers = [local.gmail_relay] })
  )

  gmail_secret_env_names = var.mailroute_config != null ? [] : (
    var.gmail_mode == "api" ? ["GMAIL_SA_PRIVATE_KEY"] : (local.relay_with_password ? ["GMAIL_RELAY_PASSWORD"] : [])
  )
  secret_env_names = toset(concat(local.gmail_secret_env_names, var.extra_secret_env_names))

  # The shared state store (idempotency records, health marks, rate limits): a Memorystore instance made here, or
  # the Redis URL secret given. Every count below is decided by variables alone, so plans never wait on an apply.
  redis_create = var.redis_enabled && var.redis_url_secret_id == null
  redis_store  = local.redis_create || var.redis_url_secret_id != null
  # Secret id (in project_id) whose latest version is the Redis URL, mounted as MAILROUTE_STORE_REDIS_URL.
  redis_url_secret = local.redis_create ? google_secret_manager_secret.redis_url[0].secret_id : var.redis_url_secret_id
  # The CA the server's TLS certificate chains to (Memorystore's own), mounted as a file for NODE_EXTRA_CA_CERTS.
  redis_ca        = local.redis_create || (local.redis_store && var.redis_ca_secret_id != null)
  redis_ca_secret = local.redis_create ? google_secret_manager_secret.redis_ca[0].secret_id : var.redis_ca_secret_id
  redis_ca_dir    = "/etc/secrets/mailroute-redis-ca"
  redis_ca_file   = "ca.pem"
  # Private-ranges egress through the connector, for a Redis inside the VPC.
  redis_vpc_access = local.redis_store && var.vpc_connector_cidr != null

  # Environment variable => Secret Manager secret id, mounted in both functions.
  mounted_secrets = merge(
    { for name, secret in google_secret_manager_secret.env : name => secret.secret_id },
    local.redis_store ? { MAILROUTE_STORE_REDIS_URL = local.redis_url_secret } : {},
  )

  common_env = merge(
    {
      MAILROUTE_CONFIG          = local.config_text
      MAILROUTE_TIMEOUT_SECONDS = tostring(var.timeout_seconds)
    },
    local.relay_with_password ? { GMAIL_RELAY_USER = var.gmail_relay_username } : {},
    local.redis_ca ? { NODE_EXTRA_CA_CERTS = "${local.redis_ca_dir}/${local.redis_ca_file}" } : {},
  )
}

# --- Identities ---------------------------------------------------------------------------------------------

resource "google_service_account" "runtime" {
  project      = var.project_id
  account_id   = "${var.name_prefix}-runtime"
  display_name = "mailroute functions (runtime)"
  description  = "Runs both mailroute functions: publishes to the failed and send topics, reads its own secrets."
}

resource "google_service_account" "trigger" {
  project      = var.project_id
  account_id   = "${var.name_prefix}-trigger"
  display_name = "mailroute Eventarc trigger"
  description  = "Identity Eventarc pushes Pub/Sub messages to the queue function with (run.invoker on it only)."
}

# --- Topics and subscriptions -------------------------------------------------------------------------------
# One resource per topic and subscription, not a for_each (issue 14): each has its own grants, references and comment,
# and addressing them by key would replace the topics of an existing deployment. OCI's queues are alike in shape only.

resource "google_pubsub_topic" "send" {
  project = var.project_id
  name    = "${var.name_prefix}-send"
  labels  = var.labels
}

# Permanent failures (invalid, rejected, malformed), published by the queue function at once with their reason.
resource "google_pubsub_topic" "failed" {
  project = var.project_id
  name    = "${var.name_prefix}-failed"
  labels  = var.labels
}

# Messages Pub/Sub gave up on after max_delivery_attempts (throttles or outages that outlasted the retries).
resource "google_pubsub_topic" "dead_letter" {
  project = var.project_id
  name    = "${var.name_prefix}-dead-letter"
  labels  = var.labels
}

# A topic without a subscription drops what is published to it: these keep failures for inspection and replay.
resource "google_pubsub_subscription" "failed" {
  project                    = var.project_id
  name                       = "${var.name_prefix}-failed-inspect"
  topic                      = google_pubsub_topic.failed.id
  ack_deadline_seconds       = 60
  message_retention_duration = "${var.failed_retention_days * 86400}s"
  labels                     = var.labels
  expiration_policy {
    ttl = ""
  }
}

resource "google_pubsub_subscription" "dead_letter" {
  project                    = var.project_id
  name                       = "${var.name_prefix}-dead-letter-inspect"
  topic                      = google_pubsub_topic.dead_letter.id
  ack_deadline_seconds       = 60
  message_retention_duration = "${var.failed_retention_days * 86400}s"
  labels                     = var.labels
  expiration_policy {
    ttl = ""
  }
}

# --- Least-privilege grants, each on one resource -----------------------------------------------------------

resource "google_pubsub_topic_iam_member" "runtime_publishes_failed" {
  project = var.project_id
  topic   = google_pubsub_topic.failed.name
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:${google_service_account.runtime.email}"
}

# The HTTP function's enqueue mode.
resource "google_pubsub_topic_iam_member" "runtime_publishes_send" {
  project = var.project_id
  topic   = google_pubsub_topic.send.name
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:${google_service_account.runtime.email}"
}

resource "google_pubsub_topic_iam_member" "producers_publish_send" {
  for_each = toset(var.producer_members)
  project  = var.project_id
  topic    = google_pubsub_topic.send.name
  role     = "roles/pubsub.publisher"
  member   = each.value
}

resource "google_pubsub_topic_iam_member" "pubsub_agent_publishes_dead_letters" {
  project = var.project_id
  topic   = google_pubsub_topic.dead_letter.name
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:${local.pubsub_agent}"
}

# Pub/Sub signs the OIDC token of each push with the trigger's service account (needed where the Pub/Sub
# service agent predates April 2021; harmless elsewhere).
resource "google_service_account_iam_member" "pubsub_agent_signs_for_trigger" {
  service_account_id = google_service_account.trigger.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = "serviceAccount:${local.pubsub_agent}"
}

# --- Secrets: one per environment variable; add each version with gcloud (README.md) ------------------------

resource "google_secret_manager_secret" "env" {
  for_each  = local.secret_env_names
  project   = var.project_id
  secret_id = "${var.name_prefix}-${lower(replace(each.key, "_", "-"))}"
  labels    = var.labels
  replication {
    auto {}
  }
}

resource "google_secret_manager_secret_iam_member" "runtime_reads" {
  for_each  = google_secret_manager_secret.env
  project   = var.project_id
  secret_id = each.value.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.runtime.email}"
}

# --- Shared state store: Memorystore for Redis, reached through Serverless VPC Access -------------------------
# Without it every instance keeps its own idempotency records, health and rate limits: a Pub/Sub redelivery that
# reaches another instance is sent again (README.md, "The shared state store").

resource "google_redis_instance" "state" {
  count                   = local.redis_create ? 1 : 0
  project                 = var.project_id
  region                  = var.region
  name                    = "${var.name_prefix}-state"
  display_name            = "mailroute state store"
  tier                    = var.redis_tier
  memory_size_gb          = var.redis_memory_size_gb
  redis_version           = var.redis_version
  authorized_network      = "projects/${var.project_id}/global/networks/${var.vpc_network}"
  auth_enabled            = true
  transit_encryption_mode = "SERVER_AUTHENTICATION"
  labels                  = var.labels

  lifecycle {
    precondition {
      condition     = var.vpc_connector_cidr != null
      error_message = "vpc_connector_cidr is required with redis_enabled: the functions reach Memorystore through the connector."
    }
  }
}

resource "google_vpc_access_connector" "redis" {
  count         = local.redis_vpc_access ? 1 : 0
  project       = var.project_id
  region        = var.region
  name          = "${var.name_prefix}-vpc"
  network       = var.vpc_network
  ip_cidr_range = var.vpc_connector_cidr
  machine_type  = "e2-micro"
  min_instances = 2
  max_instances = 3
}

# The URL (AUTH string included) and the server CA, each in a secret of its own. Both values are in the Terraform
# state as well: keep the state encrypted.
resource "google_secret_manager_secret" "redis_url" {
  count     = local.redis_create ? 1 : 0
  project   = var.project_id
  secret_id = "${var.name_prefix}-store-redis-url"
  labels    = var.labels
  replication {
    auto {}
  }
}

resource "google_secret_manager_secret_version" "redis_url" {
  count       = local.redis_create ? 1 : 0
  secret      = google_secret_manager_secret.redis_url[0].id
  secret_data = "rediss://:${urlencode(google_redis_instance.state[0].auth_string)}@${google_redis_instance.state[0].host}:${google_redis_instance.state[0].port}"
}

resource "google_secret_manager_secret" "redis_ca" {
  count     = local.redis_create ? 1 : 0
  project   = var.project_id
  secret_id = "${var.name_prefix}-store-redis-ca"
  labels    = var.labels
  replication {
    auto {}
  }
}

resource "google_secret_manager_secret_version" "redis_ca" {
  count       = local.redis_create ? 1 : 0
  secret      = google_secret_manager_secret.redis_ca[0].id
  secret_data = join("\n", google_redis_instance.state[0].server_ca_certs[*].cert)
}

# The runtime account reads the URL secret (and the CA secret), each by a binding on that one secret.
resource "google_secret_manager_secret_iam_member" "runtime_reads_redis_url" {
  count     = local.redis_store ? 1 : 0
  project   = var.project_id
  secret_id = local.redis_url_secret
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.runtime.email}"
}

resource "google_secret_manager_secret_iam_member" "runtime_reads_redis_ca" {
  count     = local.redis_ca ? 1 : 0
  project   = var.project_id
  secret_id = local.redis_ca_secret
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.runtime.email}"
}

# --- Source ---------------------------------------------------------------------------------------------------
# (Alike in shape only to other modules' resources with name, location and labels: provider arguments, one each.)

resource "google_storage_bucket" "source" {
  project                     = var.project_id
  name                        = "${var.project_id}-${var.name_prefix}-source"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = true
  labels                      = var.labels
}

resource "google_storage_bucket_object" "source" {
  name   = "${var.name_prefix}-${filemd5(var.source_zip)}.zip"
  bucket = google_storage_bucket.source.name
  source = var.source_zip
}

# --- Functions --------------------------------------------------------------------------------------------------

resource "google_cloudfunctions2_function" "queue" {
  project     = var.project_id
  location    = var.region
  name        = "${var.name_prefix}-queue"
  description = "Sends each message of the send topic; permanent failures to the failed topic; retries through Pub/Sub."
  labels      = var.labels

  build_config {
    runtime     = "nodejs22"
    entry_point = "mailrouteQueue"
    source {
      storage_source {
        bucket = google_storage_bucket.source.name
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    max_instance_count               = var.max_instances
    max_instance_request_concurrency = var.queue_concurrency
    available_cpu                    = var.queue_concurrency > 1 ? "1" : null
    available_memory                 = var.memory
    timeout_seconds                  = var.timeout_seconds
    # Eventarc's pushes count as internal traffic.
    ingress_settings               = "ALLOW_INTERNAL_ONLY"
    all_traffic_on_latest_revision = true
    service_account_email          = google_service_account.runtime.email
    environment_variables = merge(local.common_env, {
      MAILROUTE_FAILED_TOPIC = google_pubsub_topic.failed.id
    })
    # The same as in the http function below, which says why it is written twice.
    vpc_connector                 = local.redis_vpc_access ? google_vpc_access_connector.redis[0].id : null
    vpc_connector_egress_settings = local.redis_vpc_access ? "PRIVATE_RANGES_ONLY" : null
    dynamic "secret_environment_variables" {
      for_each = local.mounted_secrets
      content {
        key        = secret_environment_variables.key
        project_id = var.project_id
        secret     = secret_environment_variables.value
        version    = "latest"
      }
    }
    dynamic "secret_volumes" {
      for_each = local.redis_ca ? [local.redis_ca_secret] : []
      content {
        mount_path = local.redis_ca_dir
        project_id = var.project_id
        secret     = secret_volumes.value
        versions {
          version = "latest"
          path    = local.redis_ca_file
        }
      }
    }
  }

  event_trigger {
    trigger_region        = var.region
    event_type            = "google.cloud.pubsub.topic.v1.messagePublished"
    pubsub_topic          = google_pubsub_topic.send.id
    retry_policy          = "RETRY_POLICY_RETRY"
    service_account_email = google_service_account.trigger.email
  }

  lifecycle {
    precondition {
      condition     = var.mailroute_config != null || var.gmail_mode != "smtp" || var.gmail_domain != null
      error_message = "gmail_domain is required for the Gmail relay (gmail_mode \"smtp\"): it is the EHLO name."
    }
    precondition {
      condition     = !local.relay_with_password || var.gmail_relay_username != null
      error_message = "gmail_relay_username is required with gmail_relay_auth \"password\"."
    }
    precondition {
      condition     = var.mailroute_config != null || var.gmail_mode != "api" || (var.gmail_api_user != null && var.gmail_api_service_account_email != null)
      error_message = "gmail_api_user and gmail_api_service_account_email are required with gmail_mode \"api\"."
    }
  }

  depends_on = [
    google_secret_manager_secret_iam_member.runtime_reads,
    google_secret_manager_secret_iam_member.runtime_reads_redis_url,
    google_secret_manager_secret_iam_member.runtime_reads_redis_ca,
    google_secret_manager_secret_version.redis_url,
    google_secret_manager_secret_version.redis_ca,
  ]
}

# Declared apart from the queue function, not by for_each (issue 14): only the queue one has the event trigger and the
# preconditions, each has its own entry point, ingress and environment, and test/infra reads each by name; the shared
# wiring (connector, mounted secrets, CA volume) is repeated because HCL cannot share blocks between two resources.
resource "google_cloudfunctions2_function" "http" {
  project     = var.project_id
  location    = var.region
  name        = "${var.name_prefix}-http"
  description = "POST /v1/send (send now, or enqueue to the send topic) and GET /healthz; IAM-only."
  labels      = var.labels

  build_config {
    runtime     = "nodejs22"
    entry_point = "mailrouteHttp"
    source {
      storage_source {
        bucket = google_storage_bucket.source.name
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    max_instance_count             = var.max_instances
    available_memory               = var.memory
    timeout_seconds                = var.timeout_seconds
    ingress_settings               = var.http_ingress
    all_traffic_on_latest_revision = true
    service_account_email          = google_service_account.runtime.email
    environment_variables = merge(local.common_env, {
      MAILROUTE_SEND_TOPIC = google_pubsub_topic.send.id
      MAILROUTE_HTTP_MODE  = var.http_mode
    })
    # The same as in the queue function above: see the comment on this resource.
    vpc_connector                 = local.redis_vpc_access ? google_vpc_access_connector.redis[0].id : null
    vpc_connector_egress_settings = local.redis_vpc_access ? "PRIVATE_RANGES_ONLY" : null
    dynamic "secret_environment_variables" {
      for_each = local.mounted_secrets
      content {
        key        = secret_environment_variables.key
        project_id = var.project_id
        secret     = secret_environment_variables.value
        version    = "latest"
      }
    }
    dynamic "secret_volumes" {
      for_each = local.redis_ca ? [local.redis_ca_secret] : []
      content {
        mount_path = local.redis_ca_dir
        project_id = var.project_id
        secret     = secret_volumes.value
        versions {
          version = "latest"
          path    = local.redis_ca_file
        }
      }
    }
  }

  depends_on = [
    google_secret_manager_secret_iam_member.runtime_reads,
    google_secret_manager_secret_iam_member.runtime_reads_redis_url,
    google_secret_manager_secret_iam_member.runtime_reads_redis_ca,
    google_secret_manager_secret_version.redis_url,
    google_secret_manager_secret_version.redis_ca,
  ]
}

# The one public entry, only with public_unsubscribe = true: the one-click unsubscribe links (RFC 8058) that mailbox
# providers POST to without credentials, the signed token being the credential. Its entry point serves
# /v1/unsubscribe only (every other path 404), so /v1/send and the events stay behind the IAM-only http function.
# Same source, runtime account, store and secrets as the http function (it writes the suppression list); no send
# topic, no enqueue.
resource "google_cloudfunctions2_function" "unsubscribe" {
  count       = var.public_unsubscribe ? 1 : 0
  project     = var.project_id
  location    = var.region
  name        = "${var.name_prefix}-unsubscribe"
  description = "GET|POST /v1/unsubscribe?token=... only: the one-click unsubscribe links; public, the signed token is the credential."
  labels      = var.labels

  build_config {
    runtime     = "nodejs22"
    entry_point = "mailrouteUnsubscribe"
    source {
      storage_source {
        bucket = google_storage_bucket.source.name
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    max_instance_count             = var.max_instances
    available_memory               = var.memory
    timeout_seconds                = var.timeout_seconds
    ingress_settings               = "ALLOW_ALL"
    all_traffic_on_latest_revision = true
    service_account_email          = google_service_account.runtime.email
    environment_variables          = local.common_env
    # The same as in the queue and http functions: see the comment on the http function.
    vpc_connector                 = local.redis_vpc_access ? google_vpc_access_connector.redis[0].id : null
    vpc_connector_egress_settings = local.redis_vpc_access ? "PRIVATE_RANGES_ONLY" : null
    dynamic "secret_environment_variables" {
      for_each = local.mounted_secrets
      content {
        key        = secret_environment_variables.key
        project_id = var.project_id
        secret     = secret_environment_variables.value
        version    = "latest"
      }
    }
    dynamic "secret_volumes" {
      for_each = local.redis_ca ? [local.redis_ca_secret] : []
      content {
        mount_path = local.redis_ca_dir
        project_id = var.project_id
        secret     = secret_volumes.value
        versions {
          version = "latest"
          path    = local.redis_ca_file
        }
      }
    }
  }

  depends_on = [
    google_secret_manager_secret_iam_member.runtime_reads,
    google_secret_manager_secret_iam_member.runtime_reads_redis_url,
    google_secret_manager_secret_iam_member.runtime_reads_redis_ca,
    google_secret_manager_secret_version.redis_url,
    google_secret_manager_secret_version.redis_ca,
  ]
}

# Gen 2 functions are Cloud Run services: invoking one is roles/run.invoker on that service. No allUsers binding
# exists but the unsubscribe entry's below (public_unsubscribe, off by default): the queue and http functions are
# what `gcloud functions deploy --no-allow-unauthenticated` gives.
resource "google_cloud_run_service_iam_member" "trigger_invokes_queue" {
  project  = var.project_id
  location = var.region
  service  = google_cloudfunctions2_function.queue.name
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.trigger.email}"
}

resource "google_cloud_run_service_iam_member" "http_invokers" {
  for_each = toset(var.http_invoker_members)
  project  = var.project_id
  location = var.region
  service  = google_cloudfunctions2_function.http.name
  role     = "roles/run.invoker"
  member   = each.value
}

# `--allow-unauthenticated` for the unsubscribe entry alone: anyone may invoke it, and it serves /v1/unsubscribe only.
resource "google_cloud_run_service_iam_member" "unsubscribe_public" {
  count    = var.public_unsubscribe ? 1 : 0
  project  = var.project_id
  location = var.region
  service  = google_cloudfunctions2_function.unsubscribe[0].name
  role     = "roles/run.invoker"
  member   = "allUsers"
}

# --- Dead-letter policy on the Eventarc-managed subscription -------------------------------------------------
# Eventarc creates (and names) the trigger's push subscription itself, so Terraform cannot set its dead-letter
# policy. This runs the same gcloud commands as README.md, again whenever the trigger is recreated.
resource "terraform_data" "dead_letter_policy" {
  count = var.dead_letter_via_gcloud ? 1 : 0
  triggers_replace = [
    google_cloudfunctions2_function.queue.event_trigger[0].trigger,
    google_pubsub_topic.dead_letter.id,
    var.max_delivery_attempts,
  ]

  provisioner "local-exec" {
    interpreter = ["/bin/sh", "-c"]
    command     = <<-EOT
      set -e
      SUBSCRIPTION=$(gcloud eventarc triggers describe "$TRIGGER" --format='value(transport.pubsub.subscription)')
      gcloud pubsub subscriptions update "$SUBSCRIPTION" --dead-letter-topic="$DEAD_LETTER_TOPIC" \
        --max-delivery-attempts="$MAX_DELIVERY_ATTEMPTS" --min-retry-delay=10s --max-retry-delay=600s
      gcloud pubsub subscriptions add-iam-policy-binding "$SUBSCRIPTION" \
        --member="serviceAccount:$PUBSUB_AGENT" --role=roles/pubsub.subscriber
    EOT
    environment = {
      TRIGGER               = google_cloudfunctions2_function.queue.event_trigger[0].trigger
      DEAD_LETTER_TOPIC     = google_pubsub_topic.dead_letter.id
      MAX_DELIVERY_ATTEMPTS = tostring(var.max_delivery_attempts)
      PUBSUB_AGENT          = local.pubsub_agent
    }
  }

  depends_on = [google_pubsub_topic_iam_member.pubsub_agent_publishes_dead_letters]
}
