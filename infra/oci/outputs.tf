# Kept one block per output (issue 14): each names one value for the operator; the blocks (and those of the other
# clouds' modules) are alike in shape only, and Terraform has no way to declare them together.

output "send_queue_id" {
  description = "OCID of the send queue: producers put messages here (client/oci.ts queueId)."
  value       = oci_queue_queue.send.id
}

output "send_queue_messages_endpoint" {
  description = "Messages endpoint of the send queue (client/oci.ts endpoint)."
  value       = oci_queue_queue.send.messages_endpoint
}

output "failed_queue_id" {
  description = "OCID of the failed queue: permanent failures, original content, channel mailroute-failed, reason in custom properties."
  value       = oci_queue_queue.failed.id
}

output "failed_queue_messages_endpoint" {
  description = "Messages endpoint of the failed queue."
  value       = oci_queue_queue.failed.messages_endpoint
}

output "function_id" {
  description = "OCID of the mailroute function."
  value       = oci_functions_function.mailroute.id
}

output "send_url" {
  description = "The HTTP endpoint: POST with Authorization: Bearer <JWT> and the message JSON."
  value       = "${oci_apigateway_deployment.mailroute.endpoint}/v1/send"
}

output "unsubscribe_base_url" {
  description = "The configuration's unsubscribe.baseUrl: one-click links are <this>/v1/unsubscribe?token=..., the gateway's one anonymous route."
  value       = oci_apigateway_deployment.mailroute.endpoint
}

output "config_secret_id" {
  description = "OCID of the Vault secret holding the rendered configuration (MAILROUTE_CONFIG_OCI_VAULT)."
  value       = oci_vault_secret.config.id
}

output "secret_ids" {
  description = "OCIDs of the Vault secrets created from var.secrets, by name."
  value       = local.secret_ids
}

output "sender_id" {
  description = "OCID of the approved sender."
  value       = oci_email_sender.mailroute.id
}

output "dkim_dns_record" {
  description = "The DKIM record to publish: a CNAME at name with value cname (or the TXT value where a CNAME is not possible)."
  value = {
    name  = oci_email_dkim.mailroute.dns_subdomain_name
    cname = oci_email_dkim.mailroute.cname_record_value
    txt   = oci_email_dkim.mailroute.txt_record_value
  }
}

output "redis_url_secret_id" {
  description = "OCID of the Vault secret holding the state store's Redis URL (MAILROUTE_STORE_REDIS_URL_SECRET): made here or redis_url_secret_id; null without a shared store."
  value       = local.redis_store ? local.redis_url_secret_id : null
}

output "redis_cluster_id" {
  description = "OCID of the OCI Cache cluster made here (null with redis_url_secret_id or redis_enabled = false)."
  value       = local.redis_create ? oci_redis_redis_cluster.state[0].id : null
}

output "email_events_log_group_id" {
  description = "OCID of the log group holding the Email Delivery logs the delivery events come from (null without delivery_events)."
  value       = var.delivery_events ? oci_logging_log_group.email_events[0].id : null
}

output "email_events_connector_id" {
  description = "OCID of the Connector Hub connector from the Email Delivery logs to the function (null without delivery_events)."
  value       = var.delivery_events ? oci_sch_service_connector.email_events_to_function[0].id : null
}
