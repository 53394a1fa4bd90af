# Kept one block per output (issue 14): each names one value for the operator; the blocks (and those of the other
# clouds' modules) are alike in shape only, and Terraform has no way to declare them together.

output "http_url" {
  description = "URL of the HTTP function: POST /v1/send and GET /healthz with an identity token (IAM-only)."
  value       = google_cloudfunctions2_function.http.service_config[0].uri
}

output "unsubscribe_base_url" {
  description = "With public_unsubscribe: URL of the public unsubscribe function, the configuration's unsubscribe.baseUrl (links are <this>/v1/unsubscribe?token=...); null otherwise."
  value       = var.public_unsubscribe ? google_cloudfunctions2_function.unsubscribe[0].service_config[0].uri : null
}

output "queue_function" {
  description = "Name of the Pub/Sub-triggered function."
  value       = google_cloudfunctions2_function.queue.name
}

output "eventarc_trigger" {
  description = "Eventarc trigger of the queue function; its transport.pubsub.subscription is the one that needs the dead-letter policy."
  value       = google_cloudfunctions2_function.queue.event_trigger[0].trigger
}

output "send_topic" {
  description = "Full name of the send topic: createPubSubProducer's project and topic, the HTTP function's MAILROUTE_SEND_TOPIC."
  value       = google_pubsub_topic.send.id
}

output "failed_topic" {
  description = "Full name of the topic permanent failures are published to (attributes reason, errorCode, sourceMessageId)."
  value       = google_pubsub_topic.failed.id
}

output "dead_letter_topic" {
  description = "Full name of the topic Pub/Sub moves a message to after max_delivery_attempts."
  value       = google_pubsub_topic.dead_letter.id
}

output "failed_subscription" {
  description = "Pull subscription holding the failed topic's messages."
  value       = google_pubsub_subscription.failed.id
}

output "dead_letter_subscription" {
  description = "Pull subscription holding the dead-letter topic's messages."
  value       = google_pubsub_subscription.dead_letter.id
}

output "runtime_service_account" {
  description = "Email of the functions' runtime service account."
  value       = google_service_account.runtime.email
}

output "secret_ids" {
  description = "Secret Manager secret id per environment variable: add a version to each before the functions deploy."
  value       = { for name, secret in google_secret_manager_secret.env : name => secret.secret_id }
}

output "pubsub_service_agent" {
  description = "Pub/Sub's service agent, which needs roles/pubsub.subscriber on the Eventarc subscription for dead-lettering."
  value       = local.pubsub_agent
}

output "redis_url_secret" {
  description = "Secret Manager secret id whose latest version is the Redis URL mounted as MAILROUTE_STORE_REDIS_URL (made here, or redis_url_secret_id); null when there is no shared store."
  value       = local.redis_store ? local.redis_url_secret : null
}

output "redis_instance" {
  description = "Full name of the Memorystore instance made here (null with redis_url_secret_id or redis_enabled = false); its host and AUTH string are only in the URL secret."
  value       = local.redis_create ? google_redis_instance.state[0].id : null
}

output "vpc_connector" {
  description = "The Serverless VPC Access connector both functions send private-range traffic through (null without one)."
  value       = local.redis_vpc_access ? google_vpc_access_connector.redis[0].id : null
}
