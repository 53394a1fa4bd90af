# Kept one block per output (issue 14): each names one value for the operator; the blocks (and those of the other
# clouds' modules) are alike in shape only, and Terraform has no way to declare them together.

output "resource_group_name" {
  description = "The resource group holding everything."
  value       = azurerm_resource_group.main.name
}

output "function_app_name" {
  description = "For `func azure functionapp publish` and `az functionapp ...`."
  value       = azurerm_function_app_flex_consumption.main.name
}

output "send_url" {
  description = "POST a message here with a function key (x-functions-key header)."
  value       = "https://${azurerm_function_app_flex_consumption.main.default_hostname}/v1/send"
}

output "function_principal_id" {
  description = "The function app's system-assigned identity (its role assignments are in main.tf)."
  value       = azurerm_function_app_flex_consumption.main.identity[0].principal_id
}

output "storage_account_name" {
  description = "Holds the queues, the state table and the deployment container."
  value       = azurerm_storage_account.main.name
}

output "send_queue_url" {
  description = "For producers (client/azure.ts `queueUrl`); they need Storage Queue Data Message Sender on it."
  value       = "${azurerm_storage_account.main.primary_queue_endpoint}${azurerm_storage_queue.send.name}"
}

output "failed_queue_name" {
  description = "Permanent failures, with their reason."
  value       = azurerm_storage_queue.failed.name
}

output "poison_queue_name" {
  description = "Messages that failed maxDequeueCount times; created by the host on first use."
  value       = "${azurerm_storage_queue.send.name}-poison"
}

output "state_table_name" {
  description = "Idempotency records, shared health and rate limits."
  value       = azurerm_storage_table.state.name
}

output "key_vault_name" {
  description = "Where the secrets live (`az keyvault secret set --vault-name ...`)."
  value       = azurerm_key_vault.main.name
}

output "key_vault_uri" {
  description = "Base of the SecretUri in Key Vault references."
  value       = azurerm_key_vault.main.vault_uri
}

output "acs_endpoint" {
  description = "The Communication Services resource endpoint."
  value       = "https://${azurerm_communication_service.main.hostname}"
}

output "email_sender_domain" {
  description = "The domain to send from (From: DoNotReply@<this>)."
  value       = azurerm_email_communication_service_domain.main.from_sender_domain
}

output "email_domain_verification_records" {
  description = "DNS records (domain, SPF, DKIM, DKIM2, DMARC) to publish for a custom domain before verifying it."
  value       = azurerm_email_communication_service_domain.main.verification_records
}

output "events_url" {
  description = "POST delivery events here with a function key (?code= for an Event Grid webhook; x-functions-key otherwise): /v1/events/acs, /v1/events/dsn, ..."
  value       = "https://${azurerm_function_app_flex_consumption.main.default_hostname}/v1/events"
}

output "unsubscribe_base_url" {
  description = "The configuration's unsubscribe.baseUrl: one-click links are <this>/v1/unsubscribe?token=..., the one anonymous route (the signed token is the credential)."
  value       = "https://${azurerm_function_app_flex_consumption.main.default_hostname}"
}

output "events_dead_letter_container" {
  description = "Blob container of the ACS events Event Grid gave up on (null unless delivery_events)."
  value       = var.delivery_events ? azurerm_storage_container.events_dead_letters[0].name : null
}
