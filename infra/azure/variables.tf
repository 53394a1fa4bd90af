# Kept one block per variable (issue 14): each is one setting with its own description, type and check; the blocks
# (and those of the other clouds' modules) are alike in shape only, and Terraform has no way to declare them together.

variable "name" {
  description = "Base name of every resource: 3-20 lower-case letters, digits or hyphens, starting with a letter (e.g. \"mailroute-prod-7f3a\"). The function app, storage account, Key Vault and ACS names are derived from it and must be globally unique, so end it with a short suffix of your own."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9]*(-[a-z0-9]+)*$", var.name)) && length(var.name) >= 3 && length(var.name) <= 20
    error_message = "name must be 3-20 lower-case letters, digits or single hyphens, starting with a letter."
  }
}

variable "location" {
  description = "Azure region of the resource group, storage account, function app, Key Vault and monitoring (e.g. \"westeurope\"). It must offer the Flex Consumption plan."
  type        = string
  default     = "westeurope"
}

variable "acs_data_location" {
  description = "Geography where Azure Communication Services and the Email Communication Service keep data at rest (\"Europe\", \"United States\", \"UK\", ...)."
  type        = string
  default     = "Europe"
}

variable "email_domain" {
  description = "Custom sender domain for ACS Email (e.g. \"mail.example.com\"). Empty: an Azure-managed domain (<guid>.azurecomm.net), fine for trials but with low sending limits."
  type        = string
  default     = ""
}

variable "email_domain_verified" {
  description = "Set to true once the custom domain's DNS records (output email_domain_verification_records) are published and Azure shows the domain verified; the next apply links the domain to ACS. Ignored for an Azure-managed domain, which is linked at once."
  type        = bool
  default     = false
}

variable "acs_sends_per_minute" {
  description = "Your ACS email sending limit per minute (30 for a custom domain by default, 5 for an Azure-managed one; raised by a support request). The default configuration's rate limit, shared by every instance through the state table."
  type        = number
  default     = 30

  validation {
    condition     = var.acs_sends_per_minute > 0
    error_message = "acs_sends_per_minute must be positive."
  }
}

variable "delivery_events" {
  description = "Deliver ACS email events (delivery reports, engagement) to the acs-events function through an Event Grid system topic, with retries, dead-lettering to a blob container and an alert. Set to true on a second apply, after the code is deployed: Event Grid checks that the function exists when it creates the subscription."
  type        = bool
  default     = false
}

variable "communication_service_id" {
  description = "Resource ID of the Communication Service whose email events the function takes in, when it is not this module's own (e.g. one that sends for another deployment). Null: this module's azurerm_communication_service.main. A Communication Service has one Event Grid system topic; import an existing one instead of making a second."
  type        = string
  default     = null

  validation {
    condition     = var.communication_service_id == null || can(regex("(?i)^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\\.Communication/communicationServices/[^/]+$", var.communication_service_id))
    error_message = "communication_service_id must be the resource ID of a Communication Service (/subscriptions/.../providers/Microsoft.Communication/communicationServices/<name>)."
  }
}

variable "events_max_delivery_attempts" {
  description = "Event Grid's delivery attempts for one event (1-30) before it is dead-lettered; attempts back off from 10 seconds to 12 hours."
  type        = number
  default     = 30

  validation {
    condition     = var.events_max_delivery_attempts >= 1 && var.events_max_delivery_attempts <= 30
    error_message = "events_max_delivery_attempts must be from 1 to 30."
  }
}

variable "events_time_to_live_minutes" {
  description = "How long Event Grid keeps trying one event, in minutes (1-1440), before it is dead-lettered."
  type        = number
  default     = 1440

  validation {
    condition     = var.events_time_to_live_minutes >= 1 && var.events_time_to_live_minutes <= 1440
    error_message = "events_time_to_live_minutes must be from 1 to 1440."
  }
}

variable "mailroute_config" {
  description = "The routing configuration (JSON or YAML text; secret references only, as { env: NAME }) for the MAILROUTE_CONFIG app setting. Null: one ACS API entry whose connection string comes from Key Vault, paced at acs_sends_per_minute."
  type        = string
  default     = null
}

variable "secrets" {
  description = "More secrets for the configuration's { env: NAME } references, by app setting NAME (e.g. { SES_SMTP_PASSWORD = \"...\" }). Each is stored in Key Vault as a secret named lower-case with hyphens, and the app setting NAME becomes a Key Vault reference to it."
  type        = map(string)
  default     = {}
  sensitive   = true

  validation {
    condition     = alltrue([for k in keys(var.secrets) : can(regex("^[A-Za-z][A-Za-z0-9_]{0,126}$", k))])
    error_message = "secrets keys must be app setting names: a letter, then letters, digits or underscores."
  }
}

variable "http_default_mode" {
  description = "MAILROUTE_HTTP_MODE: \"send\" (POST /v1/send sends now and answers 200) or \"enqueue\" (it checks the message, puts it on the send queue and answers 202)."
  type        = string
  default     = "send"

  validation {
    condition     = contains(["send", "enqueue"], var.http_default_mode)
    error_message = "http_default_mode must be \"send\" or \"enqueue\"."
  }
}

variable "maximum_instance_count" {
  description = "Flex Consumption scale-out limit. Each instance runs up to batchSize + newBatchThreshold (host.json: 4 + 2 = 6) queue messages at once; the shared rate limit in the state table keeps the total at acs_sends_per_minute whatever the count."
  type        = number
  default     = 40
}

variable "instance_memory_mb" {
  description = "Memory of each Flex Consumption instance: 2048 or 4096 MB."
  type        = number
  default     = 2048

  validation {
    condition     = contains([2048, 4096], var.instance_memory_mb)
    error_message = "instance_memory_mb must be 2048 or 4096."
  }
}

variable "alert_email" {
  description = "Address notified when a message is set aside (failed queue or poison queue). Empty: the alert still fires in Azure Monitor, but notifies no one."
  type        = string
  default     = ""
}

variable "log_retention_days" {
  description = "Days the Log Analytics workspace behind Application Insights keeps the function's logs (30 to 730)."
  type        = number
  default     = 30
}

variable "key_vault_purge_protection" {
  description = "Key Vault purge protection. true for production: a deleted vault or secret can be recovered during the retention period, but the vault's name stays taken until then."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags added to every resource that takes tags."
  type        = map(string)
  default     = {}
}
