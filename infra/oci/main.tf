terraform {
  # templatestring() (the configuration template) needs Terraform 1.9.
  required_version = ">= 1.9"
  required_providers {
    oci = {
      source  = "oracle/oci"
      version = "~> 6.0"
    }
  }
}

# Credentials come from ~/.oci/config (DEFAULT profile) or the TF_VAR_/OCI_ environment, never from this module.
provider "oci" {
  region = var.region
}

locals {
  secret_ids = { for name, secret in oci_vault_secret.value : name => secret.id }

  # The shared state store (idempotency records, health marks, rate limits): an OCI Cache cluster made here, or the
  # Vault secret of an existing Redis's URL. Every count below is decided by variables alone.
  redis_create    = var.redis_enabled && var.redis_url_secret_id == null
  redis_store     = local.redis_create || var.redis_url_secret_id != null
  redis_subnet_id = var.redis_subnet_id != null ? var.redis_subnet_id : var.function_subnet_id
  # The Vault secret whose content is the Redis URL: MAILROUTE_STORE_REDIS_URL_SECRET in the function's config.
  redis_url_secret_id = local.redis_create ? oci_vault_secret.redis_url[0].id : var.redis_url_secret_id

  # Every secret the function may read: its configuration, the secrets the configuration refers to, and the Redis
  # URL of the state store.
  readable_secret_ids = concat(
    [oci_vault_secret.config.id],
    values(local.secret_ids),
    local.redis_store ? [local.redis_url_secret_id] : [],
  )
  compartment         = "compartment id ${var.compartment_ocid}"
  connector_principal = "request.principal.type = 'serviceconnector', request.principal.compartment.id = '${var.compartment_ocid}'"

  # Delivery events: the Email Delivery logs of this module's email domain, or of the one given.
  email_domain_id = var.email_domain_id != null ? var.email_domain_id : oci_email_email_domain.mailroute.id
}

# ---------------------------------------------------------------------------------------------------------------
# Queues: the send queue (fed by producers, drained by Connector Hub) and the failed queue (permanent failures,
# put there at once by the function with their reason).
# ---------------------------------------------------------------------------------------------------------------

# The two queues are declared apart (issue 14): their settings differ and each is referred to by name; they are alike
# in shape only to GCP's topics.
resource "oci_queue_queue" "send" {
  compartment_id                   = var.compartment_ocid
  display_name                     = "${var.name_prefix}-send"
  dead_letter_queue_delivery_count = var.send_queue_max_deliveries
  visibility_in_seconds            = var.send_queue_visibility_seconds
  retention_in_seconds             = var.queue_retention_seconds
}

resource "oci_queue_queue" "failed" {
  compartment_id       = var.compartment_ocid
  display_name         = "${var.name_prefix}-failed"
  retention_in_seconds = var.queue_retention_seconds
}

# ---------------------------------------------------------------------------------------------------------------
# Vault: the secrets the configuration refers to, and the configuration itself.
# ---------------------------------------------------------------------------------------------------------------

resource "oci_vault_secret" "value" {
  for_each       = toset(nonsensitive(keys(var.secrets)))
  compartment_id = var.compartment_ocid
  vault_id       = var.vault_id
  key_id         = var.vault_key_id
  secret_name    = "${var.name_prefix}-${each.key}"
  secret_content {
    content_type = "BASE64"
    content      = base64encode(var.secrets[each.key])
  }
}

resource "oci_vault_secret" "config" {
  compartment_id = var.compartment_ocid
  vault_id       = var.vault_id
  key_id         = var.vault_key_id
  secret_name    = "${var.name_prefix}-config"
  description    = "mailroute routing configuration (secret references only), read at the function's cold start"
  secret_content {
    content_type = "BASE64"
    content = base64encode(templatestring(var.mailroute_config, {
      secrets        = local.secret_ids
      compartment_id = var.compartment_ocid
      region         = var.region
    }))
  }
}

# ---------------------------------------------------------------------------------------------------------------
# The shared state store: an OCI Cache cluster (Redis, TLS only) that only the function's subnet may reach.
# Without it every container keeps its own idempotency records, health and rate limits: a Connector Hub redelivery
# that reaches another container is sent again (README.md, "The shared state store").
# ---------------------------------------------------------------------------------------------------------------

data "oci_core_subnet" "function" {
  count     = local.redis_create ? 1 : 0
  subnet_id = var.function_subnet_id
}

data "oci_core_subnet" "redis" {
  count     = local.redis_create ? 1 : 0
  subnet_id = local.redis_subnet_id
}

resource "oci_core_network_security_group" "redis" {
  count          = local.redis_create ? 1 : 0
  compartment_id = var.compartment_ocid
  vcn_id         = data.oci_core_subnet.redis[0].vcn_id
  display_name   = "${var.name_prefix}-redis"
}

resource "oci_core_network_security_group_security_rule" "redis_from_function" {
  count                     = local.redis_create ? 1 : 0
  network_security_group_id = oci_core_network_security_group.redis[0].id
  description               = "Redis (TLS) from the mailroute function's subnet only"
  direction                 = "INGRESS"
  protocol                  = "6"
  source_type               = "CIDR_BLOCK"
  source                    = data.oci_core_subnet.function[0].cidr_block
  stateless                 = false
  tcp_options {
    destination_port_range {
      min = 6379
      max = 6379
    }
  }
}

resource "oci_redis_redis_cluster" "state" {
  count              = local.redis_create ? 1 : 0
  compartment_id     = var.compartment_ocid
  display_name       = "${var.name_prefix}-state"
  node_count         = var.redis_node_count
  node_memory_in_gbs = var.redis_node_memory_gb
  software_version   = var.redis_software_version
  subnet_id          = local.redis_subnet_id
  nsg_ids            = [oci_core_network_security_group.redis[0].id]
}

# OCI Cache accepts TLS connections only, on the primary endpoint's FQDN (not its IP), port 6379.
resource "oci_vault_secret" "redis_url" {
  count          = local.redis_create ? 1 : 0
  compartment_id = var.compartment_ocid
  vault_id       = var.vault_id
  key_id         = var.vault_key_id
  secret_name    = "${var.name_prefix}-store-redis-url"
  description    = "mailroute state store: the OCI Cache cluster's Redis URL, read at the function's cold start"
  secret_content {
    content_type = "BASE64"
    content      = base64encode("rediss://${oci_redis_redis_cluster.state[0].primary_fqdn}:6379")
  }
}

# ---------------------------------------------------------------------------------------------------------------
# The function: one image, two triggers (Connector Hub batches and API Gateway requests).
# ---------------------------------------------------------------------------------------------------------------

resource "oci_functions_application" "mailroute" {
  compartment_id = var.compartment_ocid
  display_name   = var.name_prefix
  subnet_ids     = [var.function_subnet_id]
  shape          = "GENERIC_X86"
}

resource "oci_functions_function" "mailroute" {
  application_id     = oci_functions_application.mailroute.id
  display_name       = var.name_prefix
  image              = var.function_image
  memory_in_mbs      = var.function_memory_mb
  timeout_in_seconds = var.function_timeout_seconds
  config = merge(
    {
      MAILROUTE_CONFIG_OCI_VAULT      = oci_vault_secret.config.id
      MAILROUTE_FAILED_QUEUE_ID       = oci_queue_queue.failed.id
      MAILROUTE_FAILED_QUEUE_ENDPOINT = oci_queue_queue.failed.messages_endpoint
      MAILROUTE_QUEUE_ID              = oci_queue_queue.send.id
      MAILROUTE_QUEUE_ENDPOINT        = oci_queue_queue.send.messages_endpoint
      MAILROUTE_HTTP_MODE             = var.http_mode
      MAILROUTE_HTTP_PATH_PREFIX      = var.api_path_prefix
      MAILROUTE_CONCURRENCY           = tostring(var.send_concurrency)
    },
    # The Redis URL is read from Vault at cold start, like the configuration's { ociVault } secrets.
    local.redis_store ? { MAILROUTE_STORE_REDIS_URL_SECRET = local.redis_url_secret_id } : {},
  )
}

# Connector Hub: send queue -> function, in batches. A failed invocation leaves the whole batch on the queue.
resource "oci_sch_service_connector" "queue_to_function" {
  count          = var.connector_count
  compartment_id = var.compartment_ocid
  display_name   = "${var.name_prefix}-send-queue-to-function-${count.index}"
  description    = "mailroute: OCI Queue messages to the send function"
  source {
    kind        = "plugin"
    plugin_name = "QueueSource"
    config_map  = jsonencode({ queueId = oci_queue_queue.send.id })
  }
  target {
    kind              = "functions"
    function_id       = oci_functions_function.mailroute.id
    batch_size_in_num = var.connector_batch_size
    batch_time_in_sec = var.connector_batch_seconds
  }
  depends_on = [oci_identity_policy.mailroute]
}

# ---------------------------------------------------------------------------------------------------------------
# API Gateway: POST <prefix>/v1/send, callers authenticated with a JWT; GET|POST <prefix>/v1/unsubscribe, the one
# anonymous route (the one-click unsubscribe links, whose signed token is the credential).
# ---------------------------------------------------------------------------------------------------------------

resource "oci_apigateway_gateway" "mailroute" {
  compartment_id = var.compartment_ocid
  display_name   = var.name_prefix
  endpoint_type  = "PUBLIC"
  subnet_id      = var.gateway_subnet_id
}

resource "oci_apigateway_deployment" "mailroute" {
  compartment_id = var.compartment_ocid
  display_name   = var.name_prefix
  gateway_id     = oci_apigateway_gateway.mailroute.id
  path_prefix    = var.api_path_prefix
  specification {
    request_policies {
      # Anonymous access is allowed by the policy only so that a route may ask for it (authorization ANONYMOUS):
      # every route says which it is, and only /v1/unsubscribe is ANONYMOUS.
      authentication {
        type                        = "JWT_AUTHENTICATION"
        token_header                = "Authorization"
        token_auth_scheme           = "Bearer"
        is_anonymous_access_allowed = true
        issuers                     = [var.jwt_issuer]
        audiences                   = [var.jwt_audience]
        public_keys {
          type                        = "REMOTE_JWKS"
          uri                         = var.jwt_jwks_uri
          max_cache_duration_in_hours = 1
        }
      }
    }
    routes {
      path    = "/v1/send"
      methods = ["POST"]
      request_policies {
        authorization {
          type = "AUTHENTICATION_ONLY"
        }
      }
      backend {
        type        = "ORACLE_FUNCTIONS_BACKEND"
        function_id = oci_functions_function.mailroute.id
      }
    }
    # Mailbox providers POST the one-click links (RFC 8058) with no credentials; a recipient's browser GETs them.
    routes {
      path    = "/v1/unsubscribe"
      methods = ["GET", "POST"]
      request_policies {
        authorization {
          type = "ANONYMOUS"
        }
      }
      backend {
        type        = "ORACLE_FUNCTIONS_BACKEND"
        function_id = oci_functions_function.mailroute.id
      }
    }
  }
  depends_on = [oci_identity_policy.mailroute]
}

# ---------------------------------------------------------------------------------------------------------------
# Email Delivery: the domain (with DKIM) and the approved sender.
# ---------------------------------------------------------------------------------------------------------------

resource "oci_email_email_domain" "mailroute" {
  compartment_id = var.compartment_ocid
  name           = var.email_domain
}

resource "oci_email_dkim" "mailroute" {
  email_domain_id = oci_email_email_domain.mailroute.id
  name            = var.dkim_selector
}

resource "oci_email_sender" "mailroute" {
  compartment_id = var.compartment_ocid
  email_address  = var.sender_address
}

# ---------------------------------------------------------------------------------------------------------------
# Delivery events: the email domain's Email Delivery logs (accepted, relayed) -> Connector Hub -> the function,
# which applies them to the suppression list in the state store. Connector Hub has no dead-letter queue for a
# functions target (README.md, "Delivery events").
# ---------------------------------------------------------------------------------------------------------------

resource "oci_logging_log_group" "email_events" {
  count          = var.delivery_events ? 1 : 0
  compartment_id = var.compartment_ocid
  display_name   = "${var.name_prefix}-email-events"
  description    = "mailroute: Email Delivery logs of the sending domain, read by the delivery events connector"
}

# Submissions the service accepted or refused (a suppressed or invalid recipient, a limit reached).
resource "oci_logging_log" "email_accepted" {
  count              = var.delivery_events ? 1 : 0
  display_name       = "${var.name_prefix}-outbound-accepted"
  log_group_id       = oci_logging_log_group.email_events[0].id
  log_type           = "SERVICE"
  is_enabled         = true
  retention_duration = var.events_log_retention_days
  configuration {
    compartment_id = var.compartment_ocid
    source {
      source_type = "OCISERVICE"
      service     = "emaildelivery"
      resource    = local.email_domain_id
      category    = "outboundaccepted"
    }
  }
}

# What became of each relayed message: relayed, bounced, complained about, opened, clicked, unsubscribed.
resource "oci_logging_log" "email_relayed" {
  count              = var.delivery_events ? 1 : 0
  display_name       = "${var.name_prefix}-outbound-relayed"
  log_group_id       = oci_logging_log_group.email_events[0].id
  log_type           = "SERVICE"
  is_enabled         = true
  retention_duration = var.events_log_retention_days
  configuration {
    compartment_id = var.compartment_ocid
    source {
      source_type = "OCISERVICE"
      service     = "emaildelivery"
      resource    = local.email_domain_id
      category    = "outboundrelayed"
    }
  }
}

# Connector Hub: both logs -> the function, in batches (a JSON array of log records). It invokes the function under
# the policy's Connector Hub statements (use fn-function, fn-invocation), the same as the send-queue connector.
resource "oci_sch_service_connector" "email_events_to_function" {
  count          = var.delivery_events ? 1 : 0
  compartment_id = var.compartment_ocid
  display_name   = "${var.name_prefix}-email-events-to-function"
  description    = "mailroute: Email Delivery logs (accepted, relayed) to the function, for the suppression list"
  source {
    kind = "logging"
    log_sources {
      compartment_id = var.compartment_ocid
      log_group_id   = oci_logging_log_group.email_events[0].id
      log_id         = oci_logging_log.email_accepted[0].id
    }
    log_sources {
      compartment_id = var.compartment_ocid
      log_group_id   = oci_logging_log_group.email_events[0].id
      log_id         = oci_logging_log.email_relayed[0].id
    }
  }
  target {
    kind              = "functions"
    function_id       = oci_functions_function.mailroute.id
    batch_size_in_num = var.events_batch_size
    batch_time_in_sec = var.connector_batch_seconds
  }
  depends_on = [oci_identity_policy.mailroute]
}

# ---------------------------------------------------------------------------------------------------------------
# Identity: the function's resource principal, and least-privilege policies in the compartment only.
# ---------------------------------------------------------------------------------------------------------------

resource "oci_identity_dynamic_group" "function" {
  compartment_id = var.tenancy_ocid
  name           = "${var.name_prefix}-function"
  description    = "The mailroute function's resource principal"
  matching_rule  = "ALL {resource.type = 'fnfunc', resource.id = '${oci_functions_function.mailroute.id}'}"
}

resource "oci_identity_policy" "mailroute" {
  compartment_id = var.compartment_ocid
  name           = "${var.name_prefix}-policy"
  description    = "mailroute: the function sends mail, writes to its two queues and reads its secrets; Connector Hub and API Gateway invoke it"
  statements = [
    # The function (resource principal): Email Delivery submission.
    "allow dynamic-group ${oci_identity_dynamic_group.function.name} to use email-family in ${local.compartment}",
    # PutMessages on the failed queue (dead letters) and on the send queue (HTTP enqueue mode), nothing else.
    "allow dynamic-group ${oci_identity_dynamic_group.function.name} to use queue-push in ${local.compartment} where any {target.queue.id = '${oci_queue_queue.send.id}', target.queue.id = '${oci_queue_queue.failed.id}'}",
    # GetSecretBundle on exactly the secrets it needs (the Redis URL's among them), each by its OCID.
    "allow dynamic-group ${oci_identity_dynamic_group.function.name} to read secret-bundles in ${local.compartment} where any {${join(", ", [for id in local.readable_secret_ids : "target.secret.id = '${id}'"])}}",
    # Connector Hub (connectors of this compartment): read and consume the send queue, invoke the function (with a
    # send-queue batch, or with Email Delivery log records: the delivery events connector).
    "allow any-user to {QUEUE_READ, QUEUE_CONSUME} in ${local.compartment} where all {${local.connector_principal}, target.queue.id = '${oci_queue_queue.send.id}'}",
    "allow any-user to use fn-function in ${local.compartment} where all {${local.connector_principal}}",
    "allow any-user to use fn-invocation in ${local.compartment} where all {${local.connector_principal}}",
    # API Gateway (gateways of this compartment): invoke the function.
    "allow any-user to use fn-function in ${local.compartment} where all {request.principal.type = 'ApiGateway', request.resource.compartment.id = '${var.compartment_ocid}'}",
    "allow any-user to use fn-invocation in ${local.compartment} where all {request.principal.type = 'ApiGateway', request.resource.compartment.id = '${var.compartment_ocid}'}",
  ]
}
