//! What the order and service mails say, in French and English.

use guichet_domain::Language;

/// Subject, paragraphs, action (label, link) and closing lines of a mail.
pub(super) type Parts = (String, Vec<String>, Option<(String, String)>, Vec<String>);

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub enum OrderMail {
    /// An order was placed: what it holds, the amount and the pay link.
    Placed {
        number: String,
        total: String,
        expires_on: String,
        link: String,
    },
    /// The payment was received.
    PaymentReceived {
        number: String,
        total: String,
        link: String,
    },
    /// A payment attempt failed; the order waits for another one.
    PaymentFailed {
        number: String,
        reason: String,
        link: String,
    },
    /// Paying by bank transfer: where to send the money, with which reference, by when.
    TransferInstructions {
        number: String,
        total: String,
        iban: String,
        bic: String,
        due_on: String,
    },
    /// Unpaid past its expiry date: cancelled.
    Expired {
        number: String,
    },
    /// Cancelled by the customer or by the provider.
    Cancelled {
        number: String,
        reason: String,
    },
    /// The provider needs documents before delivering.
    DocumentsRequested {
        number: String,
        instructions: String,
        due_on: String,
        link: String,
    },
    /// Delivery failed on the provider's side; support is on it.
    DeliveryFailed {
        number: String,
        link: String,
    },
    /// An invoice was issued (for a paid order).
    InvoiceIssued {
        number: String,
        total: String,
        link: String,
    },
    /// A credit note was issued against an invoice.
    CreditNoteIssued {
        number: String,
        invoice: String,
        total: String,
        link: String,
    },
    /// "Résilier": the service will end at its expiration date.
    TerminationScheduled {
        name: String,
        ends_on: String,
        link: String,
    },
    TerminationCancelled {
        name: String,
    },
    /// "Supprimer immédiatement": the single-use token that confirms it.
    DeletionToken {
        name: String,
        link: String,
        token: String,
        hours: i64,
    },
    /// A service was deleted (at once, or at the end of a termination).
    ServiceDeleted {
        name: String,
        at_expiration: bool,
    },
    /// A service is delivered and ready.
    ServiceReady {
        name: String,
        expires_on: String,
        link: String,
    },
}

impl OrderMail {
    pub fn name(&self) -> &'static str {
        match self {
            OrderMail::Placed { .. } => "order_placed",
            OrderMail::PaymentReceived { .. } => "order_payment_received",
            OrderMail::PaymentFailed { .. } => "order_payment_failed",
            OrderMail::TransferInstructions { .. } => "order_transfer_instructions",
            OrderMail::Expired { .. } => "order_expired",
            OrderMail::Cancelled { .. } => "order_cancelled",
            OrderMail::DocumentsRequested { .. } => "order_documents_requested",
            OrderMail::DeliveryFailed { .. } => "order_delivery_failed",
            OrderMail::InvoiceIssued { .. } => "invoice_issued",
            OrderMail::CreditNoteIssued { .. } => "credit_note_issued",
            OrderMail::TerminationScheduled { .. } => "service_termination_scheduled",
            OrderMail::TerminationCancelled { .. } => "service_termination_cancelled",
            OrderMail::DeletionToken { .. } => "service_deletion_confirm",
            OrderMail::ServiceDeleted { .. } => "service_deleted",
            OrderMail::ServiceReady { .. } => "service_ready",
        }
    }

    /// Subject, paragraphs, action and closing lines.
    pub(super) fn parts(&self, lang: Language) -> Parts {
        let fr = lang == Language::Fr;
        let t = |f: String, e: String| if fr { f } else { e };
        match self {
            OrderMail::Placed {
                number,
                total,
                expires_on,
                link,
            } => (
                t(
                    format!("Votre commande {number}"),
                    format!("Your order {number}"),
                ),
                vec![t(
                    format!(
                        "Nous avons bien reçu votre commande {number} d'un montant de {total}. \
                         Elle sera traitée dès réception du paiement, attendu avant le \
                         {expires_on} ; passé cette date elle sera annulée."
                    ),
                    format!(
                        "We received your order {number} for {total}. It will be processed as \
                         soon as it is paid, before {expires_on}; after that date it will be \
                         cancelled."
                    ),
                )],
                Some((
                    t("Payer ma commande".into(), "Pay my order".into()),
                    link.clone(),
                )),
                vec![],
            ),
            OrderMail::PaymentReceived {
                number,
                total,
                link,
            } => (
                t(
                    format!("Paiement reçu pour la commande {number}"),
                    format!("Payment received for order {number}"),
                ),
                vec![t(
                    format!(
                        "Nous avons reçu votre paiement de {total} pour la commande {number}. \
                         Vous pouvez suivre chaque étape de la livraison dans votre espace client."
                    ),
                    format!(
                        "We received your payment of {total} for order {number}. You can follow \
                         each step of the delivery in your customer space."
                    ),
                )],
                Some((
                    t("Suivre ma commande".into(), "Follow my order".into()),
                    link.clone(),
                )),
                vec![],
            ),
            OrderMail::PaymentFailed {
                number,
                reason,
                link,
            } => (
                t(
                    format!("Échec du paiement de la commande {number}"),
                    format!("Payment of order {number} failed"),
                ),
                vec![t(
                    format!(
                        "Le paiement de votre commande {number} n'a pas abouti ({reason}). \
                         Vous pouvez réessayer avec un autre moyen de paiement."
                    ),
                    format!(
                        "The payment of your order {number} did not go through ({reason}). \
                         You can try again with another payment method."
                    ),
                )],
                Some((
                    t("Payer ma commande".into(), "Pay my order".into()),
                    link.clone(),
                )),
                vec![],
            ),
            OrderMail::TransferInstructions {
                number,
                total,
                iban,
                bic,
                due_on,
            } => (
                t(
                    format!("Virement attendu pour la commande {number}"),
                    format!("Bank transfer expected for order {number}"),
                ),
                vec![
                    t(
                        format!(
                            "Pour payer votre commande {number}, virez {total} avant le \
                             {due_on} sur le compte ci-dessous, avec la référence {number} \
                             (sans elle, nous ne pourrons pas rapprocher votre paiement)."
                        ),
                        format!(
                            "To pay your order {number}, transfer {total} before {due_on} to \
                             the account below, with the reference {number} (without it we \
                             cannot match your payment)."
                        ),
                    ),
                    format!("IBAN : {iban} — BIC : {bic}"),
                ],
                None,
                vec![],
            ),
            OrderMail::Expired { number } => (
                t(
                    format!("Commande {number} annulée faute de paiement"),
                    format!("Order {number} cancelled: not paid"),
                ),
                vec![t(
                    format!(
                        "Votre commande {number} n'a pas été payée dans le délai prévu ; elle a \
                         été annulée. Rien ne vous a été prélevé. Vous pouvez passer une \
                         nouvelle commande à tout moment."
                    ),
                    format!(
                        "Your order {number} was not paid in time and has been cancelled. \
                         Nothing was charged. You can place a new order at any time."
                    ),
                )],
                None,
                vec![],
            ),
            OrderMail::Cancelled { number, reason } => (
                t(
                    format!("Commande {number} annulée"),
                    format!("Order {number} cancelled"),
                ),
                vec![t(
                    format!("Votre commande {number} a été annulée : {reason}."),
                    format!("Your order {number} was cancelled: {reason}."),
                )],
                None,
                vec![],
            ),
            OrderMail::DocumentsRequested {
                number,
                instructions,
                due_on,
                link,
            } => (
                t(
                    format!("Action requise : documents pour la commande {number}"),
                    format!("Action needed: documents for order {number}"),
                ),
                vec![
                    t(
                        format!(
                            "Pour livrer votre commande {number}, nous avons besoin de \
                             documents de votre part avant le {due_on} :"
                        ),
                        format!(
                            "To deliver your order {number}, we need documents from you \
                             before {due_on}:"
                        ),
                    ),
                    instructions.clone(),
                ],
                Some((
                    t("Envoyer mes documents".into(), "Send my documents".into()),
                    link.clone(),
                )),
                vec![],
            ),
            OrderMail::DeliveryFailed { number, link } => (
                t(
                    format!("Retard de livraison de la commande {number}"),
                    format!("Delivery of order {number} is delayed"),
                ),
                vec![t(
                    format!(
                        "La livraison de votre commande {number} a rencontré un problème. Nos \
                         équipes s'en occupent ; vous n'avez rien à faire."
                    ),
                    format!(
                        "The delivery of your order {number} ran into a problem. Our teams are \
                         on it; there is nothing you need to do."
                    ),
                )],
                Some((
                    t("Suivre ma commande".into(), "Follow my order".into()),
                    link.clone(),
                )),
                vec![],
            ),
            OrderMail::InvoiceIssued {
                number,
                total,
                link,
            } => (
                t(
                    format!("Votre facture {number}"),
                    format!("Your invoice {number}"),
                ),
                vec![t(
                    format!(
                        "Votre facture {number} d'un montant de {total} est disponible dans \
                         votre espace client, au format PDF."
                    ),
                    format!(
                        "Your invoice {number} for {total} is available in your customer \
                         space, as a PDF."
                    ),
                )],
                Some((
                    t("Voir ma facture".into(), "See my invoice".into()),
                    link.clone(),
                )),
                vec![],
            ),
            OrderMail::CreditNoteIssued {
                number,
                invoice,
                total,
                link,
            } => (
                t(
                    format!("Votre avoir {number}"),
                    format!("Your credit note {number}"),
                ),
                vec![t(
                    format!("Un avoir {number} de {total} a été émis sur votre facture {invoice}."),
                    format!(
                        "A credit note {number} for {total} was issued on your invoice {invoice}."
                    ),
                )],
                Some((
                    t("Voir mon avoir".into(), "See my credit note".into()),
                    link.clone(),
                )),
                vec![],
            ),
            OrderMail::TerminationScheduled {
                name,
                ends_on,
                link,
            } => (
                t(
                    format!("Résiliation de {name} enregistrée"),
                    format!("Termination of {name} recorded"),
                ),
                vec![t(
                    format!(
                        "Votre service {name} ne sera pas renouvelé : il sera supprimé le \
                         {ends_on}, avec ses données. Vous pouvez annuler cette résiliation \
                         jusqu'à 24 heures avant cette date."
                    ),
                    format!(
                        "Your service {name} will not be renewed: it will be deleted on \
                         {ends_on}, with its data. You can cancel this termination until 24 \
                         hours before that date."
                    ),
                )],
                Some((t("Gérer mon service".into(), "Manage my service".into()), link.clone())),
                vec![],
            ),
            OrderMail::TerminationCancelled { name } => (
                t(
                    format!("Résiliation de {name} annulée"),
                    format!("Termination of {name} cancelled"),
                ),
                vec![t(
                    format!("La résiliation de votre service {name} est annulée ; il reste actif."),
                    format!("The termination of your service {name} is cancelled; it stays active."),
                )],
                None,
                vec![],
            ),
            OrderMail::DeletionToken {
                name,
                link,
                token,
                hours,
            } => (
                t(
                    format!("Confirmez la suppression de {name}"),
                    format!("Confirm the deletion of {name}"),
                ),
                vec![
                    t(
                        format!(
                            "Vous avez demandé la suppression immédiate de votre service \
                             {name}. Elle est définitive : le service et ses données seront \
                             effacés, sans remboursement. Pour confirmer, suivez le lien (valable \
                             {hours} heures, une seule fois) ou collez ce code dans votre espace \
                             client :"
                        ),
                        format!(
                            "You asked for the immediate deletion of your service {name}. It is \
                             final: the service and its data will be erased, with no refund. To \
                             confirm, follow the link (valid {hours} hours, once) or paste this \
                             code in your customer space:"
                        ),
                    ),
                    token.clone(),
                ],
                Some((
                    t("Supprimer définitivement".into(), "Delete for good".into()),
                    link.clone(),
                )),
                vec![t(
                    "Si vous n'êtes pas à l'origine de cette demande, ignorez ce message : rien ne sera supprimé.".into(),
                    "If you did not ask for this, ignore this message: nothing will be deleted.".into(),
                )],
            ),
            OrderMail::ServiceDeleted {
                name,
                at_expiration,
            } => (
                t(
                    format!("Votre service {name} a été supprimé"),
                    format!("Your service {name} was deleted"),
                ),
                vec![if *at_expiration {
                    t(
                        format!("Comme demandé, votre service {name} a été supprimé à son expiration."),
                        format!("As asked, your service {name} was deleted at its expiration."),
                    )
                } else {
                    t(
                        format!("Votre service {name} a été supprimé, comme vous l'avez confirmé."),
                        format!("Your service {name} was deleted, as you confirmed."),
                    )
                }],
                None,
                vec![],
            ),
            OrderMail::ServiceReady {
                name,
                expires_on,
                link,
            } => (
                t(
                    format!("Votre service {name} est prêt"),
                    format!("Your service {name} is ready"),
                ),
                vec![t(
                    format!(
                        "Votre service {name} est livré et prêt à l'emploi. Il expire le \
                         {expires_on} ; le renouvellement automatique est activé."
                    ),
                    format!(
                        "Your service {name} is delivered and ready to use. It expires on \
                         {expires_on}; automatic renewal is on."
                    ),
                )],
                Some((
                    t("Voir mon service".into(), "See my service".into()),
                    link.clone(),
                )),
                vec![],
            ),
        }
    }
}
