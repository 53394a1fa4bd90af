# mailroute on Azure: a Flex Consumption function app (Node 22) fed by a Storage queue, with a failed queue for
# permanent failures, an Azure Table for idempotency / shared health / rate limits, secrets in Key Vault
# (resolved into app settings by the platform), Azure Communication Services Email, and an alert when a message
# is set aside. See README.md for the deploy commands.

terraform {
  required_version = ">= 1.6"
  required_providers {
    azurerm = {
      source  = "hashicorp/azurerm"
      version = "~> 4.30"
    }
  }
}

provider "azurerm" {
  features {
    key_vault {
      # Without purge protection a destroyed vault is purged, so its name can be reused by the next apply.
      purge_soft_delete_on_destroy = !var.key_vault_purge_protection
    }
  }
}

# Who runs terraform: the tenant for the vault, and the principal that writes its secrets.
data "azurerm_client_config" "current" {}

locals {
  compact_name         = replace(var.name, "-", "")
  storage_account_name = "${local.compact_name}st"
  send_queue_name      = "${var.name}-send"
  failed_queue_name    = "${var.name}-failed"
  # An Azure table name is letters and digits only (the store's configuration schema checks the same).
  state_table_name = "${local.compact_name}state"

  # Delivery events (ACS email reports): from this module's Communication Service, or the one given.
  communication_service_id = coalesce(var.communication_service_id, azurerm_communication_service.main.id)
  # The Event Grid trigger of functions/azure/events.ts (ACS_EVENTS_FUNCTION, ACS_EVENT_TYPES in bindings.ts).
  acs_events_function = "acs-events"
  acs_event_types = [
    "Microsoft.Communication.EmailDeliveryReportReceived",
    "Microsoft.Communication.EmailEngagementTrackingReportReceived",
  ]

  default_config = jsonencode({
    providers = [{
      name             = "acs"
      provider         = "azure"
      mode             = "api"
      connectionString = { env = "ACS_CONNECTION_STRING" }
      rateLimits       = [{ limit = var.acs_sends_per_minute, per = "minute" }]
    }]
  })

  # Keys of a sensitive map are sensitive too; the names (not the values) are safe to show in a plan.
  secret_names = toset(nonsensitive(keys(var.secrets)))
  secret_settings = {
    for name in local.secret_names : name => "@Microsoft.KeyVault(SecretUri=${azurerm_key_vault_secret.extra[name].versionless_id})"
  }

  app_settings = {
    MAILROUTE_CONFIG       = coalesce(var.mailroute_config, local.default_config)
    MAILROUTE_SEND_QUEUE   = azurerm_storage_queue.send.name
    MAILROUTE_FAILED_QUEUE = azurerm_storage_queue.failed.name
    MAILROUTE_STORE_TABLE  = azurerm_storage_table.state.name
    MAILROUTE_HTTP_MODE    = var.http_default_mode
    # A Key Vault reference: the platform resolves it with the app's identity into the environment variable the
    # configuration's { env: ACS_CONNECTION_STRING } reads. versionless_id follows rotations (within 24 h).
    ACS_CONNECTION_STRING = "@Microsoft.KeyVault(SecretUri=${azurerm_key_vault_secret.acs_connection_string.versionless_id})"
    # Host storage and the queue trigger's `connection`, through the managed identity: no account key anywhere.
    AzureWebJobsStorage__accountName = azurerm_storage_account.main.name
    AzureWebJobsStorage__credential  = "managedidentity"
  }
}

resource "azurerm_resource_group" "main" {
  name     = "${var.name}-rg"
  location = var.location
  tags     = var.tags
}

# ---------------------------------------------------------------------------------------------------------------
# Storage: host storage, deployment packages, the send and failed queues, the state table.
# ---------------------------------------------------------------------------------------------------------------

resource "azurerm_storage_account" "main" {
  name                            = local.storage_account_name
  resource_group_name             = azurerm_resource_group.main.name
  location                        = azurerm_resource_group.main.location
  account_tier                    = "Standard"
  account_replication_type        = "LRS"
  account_kind                    = "StorageV2"
  min_tls_version                 = "TLS1_2"
  https_traffic_only_enabled      = true
  allow_nested_items_to_be_public = false
  tags                            = var.tags
}

# The queue the function is triggered by. Its poison queue, "<name>-poison", is created by the Functions host
# the first time it moves a message there (after host.json's maxDequeueCount).
resource "azurerm_storage_queue" "send" {
  name               = local.send_queue_name
  storage_account_id = azurerm_storage_account.main.id
}

# Permanent failures (invalid message, rejected recipients...), written by the function at once with the reason.
resource "azurerm_storage_queue" "failed" {
  name               = local.failed_queue_name
  storage_account_id = azurerm_storage_account.main.id
}

resource "azurerm_storage_table" "state" {
  name                 = local.state_table_name
  storage_account_name = azurerm_storage_account.main.name
}

# Flex Consumption deploys from a blob container.
resource "azurerm_storage_container" "deployments" {
  name                  = "app-package"
  storage_account_id    = azurerm_storage_account.main.id
  container_access_type = "private"
}

# ---------------------------------------------------------------------------------------------------------------
# The function app.
# ---------------------------------------------------------------------------------------------------------------

resource "azurerm_log_analytics_workspace" "main" {
  name                = "${var.name}-logs"
  resource_group_name = azurerm_resource_group.main.name
  location            = azurerm_resource_group.main.location
  sku                 = "PerGB2018"
  retention_in_days   = var.log_retention_days
  tags                = var.tags
}

resource "azurerm_application_insights" "main" {
  name                = "${var.name}-insights"
  resource_group_name = azurerm_resource_group.main.name
  location            = azurerm_resource_group.main.location
  workspace_id        = azurerm_log_analytics_workspace.main.id
  application_type    = "Node.JS"
  tags                = var.tags
}

resource "azurerm_service_plan" "functions" {
  name                = "${var.name}-plan"
  resource_group_name = azurerm_resource_group.main.name
  location            = azurerm_resource_group.main.location
  os_type             = "Linux"
  sku_name            = "FC1"
  tags                = var.tags
}

resource "azurerm_function_app_flex_consumption" "main" {
  name                = "${var.name}-func"
  resource_group_name = azurerm_resource_group.main.name
  location            = azurerm_resource_group.main.location
  service_plan_id     = azurerm_service_plan.functions.id

  storage_container_type      = "blobContainer"
  storage_container_endpoint  = "${azurerm_storage_account.main.primary_blob_endpoint}${azurerm_storage_container.deployments.name}"
  storage_authentication_type = "SystemAssignedIdentity"

  runtime_name           = "node"
  runtime_version        = "22"
  maximum_instance_count = var.maximum_instance_count
  instance_memory_in_mb  = var.instance_memory_mb
  https_only             = true

  identity {
    type = "SystemAssigned"
  }

  site_config {
    application_insights_connection_string = azurerm_application_insights.main.connection_string
    minimum_tls_version                    = "1.2"
  }

  app_settings = merge(local.app_settings, local.secret_settings)
  tags         = var.tags
}

# ---------------------------------------------------------------------------------------------------------------
# Least-privilege roles of the function app's identity, each scoped to the one resource it needs.
# ---------------------------------------------------------------------------------------------------------------
# One resource per grant, not a for_each over a map (issue 14): each grant is read and reviewed on its own, with why
# it is needed, test/infra checks each, and addressing them by key would recreate the assignments of a deployment.

# The send queue trigger (receive, delete, poison), the failed queue and enqueue mode.
resource "azurerm_role_assignment" "function_queue_data" {
  scope                = azurerm_storage_account.main.id
  role_definition_name = "Storage Queue Data Contributor"
  principal_id         = azurerm_function_app_flex_consumption.main.identity[0].principal_id
  principal_type       = "ServicePrincipal"
}

# The state table: idempotency records, shared health, shared rate-limit buckets.
resource "azurerm_role_assignment" "function_table_data" {
  scope                = azurerm_storage_account.main.id
  role_definition_name = "Storage Table Data Contributor"
  principal_id         = azurerm_function_app_flex_consumption.main.identity[0].principal_id
  principal_type       = "ServicePrincipal"
}

# Host storage through an identity (AzureWebJobsStorage__accountName): the host keeps its locks and function keys
# in blobs and creates their containers, and Flex Consumption reads its package from the deployment container.
# Microsoft documents Storage Blob Data Owner as the role identity-based host storage needs.
resource "azurerm_role_assignment" "function_host_blob_data" {
  scope                = azurerm_storage_account.main.id
  role_definition_name = "Storage Blob Data Owner"
  principal_id         = azurerm_function_app_flex_consumption.main.identity[0].principal_id
  principal_type       = "ServicePrincipal"
}

# Read secret values for the Key Vault references in app settings; nothing else in the vault.
resource "azurerm_role_assignment" "function_key_vault_secrets" {
  scope                = azurerm_key_vault.main.id
  role_definition_name = "Key Vault Secrets User"
  principal_id         = azurerm_function_app_flex_consumption.main.identity[0].principal_id
  principal_type       = "ServicePrincipal"
}

# Whoever runs terraform writes the secrets; an RBAC vault grants nothing by default, not even to its creator.
resource "azurerm_role_assignment" "deployer_key_vault_secrets" {
  scope                = azurerm_key_vault.main.id
  role_definition_name = "Key Vault Secrets Officer"
  principal_id         = data.azurerm_client_config.current.object_id
}

# ---------------------------------------------------------------------------------------------------------------
# Secrets.
# ---------------------------------------------------------------------------------------------------------------

resource "azurerm_key_vault" "main" {
  name                       = "${var.name}-kv"
  resource_group_name        = azurerm_resource_group.main.name
  location                   = azurerm_resource_group.main.location
  tenant_id                  = data.azurerm_client_config.current.tenant_id
  sku_name                   = "standard"
  enable_rbac_authorization  = true
  purge_protection_enabled   = var.key_vault_purge_protection
  soft_delete_retention_days = 30
  tags                       = var.tags
}

resource "azurerm_key_vault_secret" "acs_connection_string" {
  name         = "acs-connection-string"
  value        = azurerm_communication_service.main.primary_connection_string
  key_vault_id = azurerm_key_vault.main.id
  depends_on   = [azurerm_role_assignment.deployer_key_vault_secrets]
}

resource "azurerm_key_vault_secret" "extra" {
  for_each     = local.secret_names
  name         = lower(replace(each.key, "_", "-"))
  value        = var.secrets[each.key]
  key_vault_id = azurerm_key_vault.main.id
  depends_on   = [azurerm_role_assignment.deployer_key_vault_secrets]
}

# ---------------------------------------------------------------------------------------------------------------
# Azure Communication Services Email.
# ---------------------------------------------------------------------------------------------------------------

# (The Email and Communication services are alike in shape only, to each other and to GCP's: provider arguments.)
resource "azurerm_email_communication_service" "main" {
  name                = "${var.name}-email"
  resource_group_name = azurerm_resource_group.main.name
  data_location       = var.acs_data_location
  tags                = var.tags
}

resource "azurerm_email_communication_service_domain" "main" {
  name                             = var.email_domain == "" ? "AzureManagedDomain" : var.email_domain
  email_service_id                 = azurerm_email_communication_service.main.id
  domain_management                = var.email_domain == "" ? "AzureManaged" : "CustomerManaged"
  user_engagement_tracking_enabled = false
  tags                             = var.tags
}

resource "azurerm_communication_service" "main" {
  name                = "${var.name}-acs"
  resource_group_name = azurerm_resource_group.main.name
  data_location       = var.acs_data_location
  tags                = var.tags
}

# A custom domain can be linked only once it is verified: a second apply with email_domain_verified = true.
resource "azurerm_communication_service_email_domain_association" "main" {
  count                    = var.email_domain == "" || var.email_domain_verified ? 1 : 0
  communication_service_id = azurerm_communication_service.main.id
  email_service_domain_id  = azurerm_email_communication_service_domain.main.id
}

# ---------------------------------------------------------------------------------------------------------------
# Delivery events: ACS email reports -> Event Grid system topic -> the acs-events function (Event Grid trigger) ->
# the suppression list in the state table. Made on a second apply (delivery_events = true), once the code is
# deployed: Event Grid checks that the function exists when the subscription is created.
# ---------------------------------------------------------------------------------------------------------------

# A Communication Service has one system topic: an existing one (made in the portal) must be imported instead.
resource "azurerm_eventgrid_system_topic" "acs" {
  count               = var.delivery_events ? 1 : 0
  name                = "${var.name}-acs-events"
  resource_group_name = azurerm_resource_group.main.name
  location            = "global"
  source_resource_id  = local.communication_service_id
  topic_type          = "Microsoft.Communication.CommunicationServices"
  tags                = var.tags

  # Its identity writes dead letters (below), so no account key is involved.
  identity {
    type = "SystemAssigned"
  }
}

# Events Event Grid gave up on (the function failing past the retry policy), kept as blobs for a person to read.
resource "azurerm_storage_container" "events_dead_letters" {
  count                 = var.delivery_events ? 1 : 0
  name                  = "event-dead-letters"
  storage_account_id    = azurerm_storage_account.main.id
  container_access_type = "private"
}

# The system topic's identity writes dead letters into that container, and nowhere else.
resource "azurerm_role_assignment" "events_dead_letter_writer" {
  count                = var.delivery_events ? 1 : 0
  scope                = azurerm_storage_container.events_dead_letters[0].resource_manager_id
  role_definition_name = "Storage Blob Data Contributor"
  principal_id         = azurerm_eventgrid_system_topic.acs[0].identity[0].principal_id
  principal_type       = "ServicePrincipal"
}

resource "azurerm_eventgrid_system_topic_event_subscription" "acs_to_function" {
  count                = var.delivery_events ? 1 : 0
  name                 = "${var.name}-acs-to-function"
  system_topic         = azurerm_eventgrid_system_topic.acs[0].name
  resource_group_name  = azurerm_resource_group.main.name
  included_event_types = local.acs_event_types

  # Event Grid signs in to the function with its system key: no key in this configuration.
  azure_function_endpoint {
    function_id          = "${azurerm_function_app_flex_consumption.main.id}/functions/${local.acs_events_function}"
    max_events_per_batch = 1
  }

  # Event Grid retries with backoff until either bound is reached, then dead-letters the event.
  retry_policy {
    max_delivery_attempts = var.events_max_delivery_attempts
    event_time_to_live    = var.events_time_to_live_minutes
  }

  dead_letter_identity {
    type = "SystemAssigned"
  }

  storage_blob_dead_letter_destination {
    storage_account_id          = azurerm_storage_account.main.id
    storage_blob_container_name = azurerm_storage_container.events_dead_letters[0].name
  }

  depends_on = [azurerm_role_assignment.events_dead_letter_writer]
}

# An event that reached the dead-letter container was not applied: the suppression list may lack a bounce.
resource "azurerm_monitor_metric_alert" "events_dead_lettered" {
  count               = var.delivery_events ? 1 : 0
  name                = "${var.name}-events-dead-lettered"
  resource_group_name = azurerm_resource_group.main.name
  scopes              = [azurerm_eventgrid_system_topic.acs[0].id]
  description         = "ACS delivery events were dead-lettered to the ${azurerm_storage_account.main.name}/event-dead-letters container: the function kept failing on them."
  severity            = 2
  frequency           = "PT5M"
  window_size         = "PT5M"
  tags                = var.tags

  criteria {
    metric_namespace = "Microsoft.EventGrid/systemTopics"
    metric_name      = "DeadLetteredCount"
    aggregation      = "Total"
    operator         = "GreaterThan"
    threshold        = 0
  }

  action {
    action_group_id = azurerm_monitor_action_group.alerts.id
  }
}

# ---------------------------------------------------------------------------------------------------------------
# Alert when a message is set aside. Azure Monitor's queue metric (QueueMessageCount) is per storage account, not
# per queue, so it cannot tell the failed and poison queues from the send queue's backlog: the alert reads the
# logs instead. The function logs `"setAside":"failed-queue"` or `"setAside":"poison-queue"` with every such
# message, and the host logs "Message has reached MaxDequeueCount ... Moving message to queue '...-poison'" (also
# for a message it could not decode, which never reaches the function).
# ---------------------------------------------------------------------------------------------------------------

resource "azurerm_monitor_action_group" "alerts" {
  name                = "${var.name}-alerts"
  resource_group_name = azurerm_resource_group.main.name
  short_name          = "mailroute"
  tags                = var.tags

  dynamic "email_receiver" {
    for_each = var.alert_email == "" ? [] : [var.alert_email]
    content {
      name                    = "mailroute-operators"
      email_address           = email_receiver.value
      use_common_alert_schema = true
    }
  }
}

resource "azurerm_monitor_scheduled_query_rules_alert_v2" "messages_set_aside" {
  name                 = "${var.name}-messages-set-aside"
  resource_group_name  = azurerm_resource_group.main.name
  location             = azurerm_resource_group.main.location
  description          = "A mail message went to the failed queue (${local.failed_queue_name}) or the poison queue (${local.send_queue_name}-poison)."
  scopes               = [azurerm_application_insights.main.id]
  severity             = 2
  evaluation_frequency = "PT5M"
  window_duration      = "PT5M"
  tags                 = var.tags

  criteria {
    query                   = <<-KQL
      traces
      | where message contains '"setAside":' or message contains 'has reached MaxDequeueCount'
    KQL
    time_aggregation_method = "Count"
    operator                = "GreaterThan"
    threshold               = 0
  }

  action {
    action_groups = [azurerm_monitor_action_group.alerts.id]
  }
}
