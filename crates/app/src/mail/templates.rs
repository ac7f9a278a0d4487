//! What each service e-mail says, in French and English.

use super::layout::Content;
use guichet_domain::Language;

/// Every kind of mail Guichet sends, with the data it needs. A queued mail stores this value
/// (as JSON, externally tagged by variant name) and its bodies are rendered from it when it is
/// sent or read: renaming a variant or a field needs a data migration of `emails.data`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub enum MailKind {
    /// Sign-up: prove the primary address.
    VerifyEmail {
        link: String,
    },
    /// A password reset was asked for (sent to the primary or the verified backup address).
    PasswordReset {
        link: String,
        minutes: i64,
    },
    /// The password was reset from the backup address: the primary address is told too.
    PasswordResetToBackupNotice {
        backup_masked: String,
    },
    PasswordChanged,
    /// Sent to the *new* address: confirm it.
    EmailChangeConfirm {
        link: String,
        new_email: String,
    },
    /// Sent to the *old* address when a change is asked for.
    EmailChangeRequested {
        new_email_masked: String,
    },
    /// Sent to the *old* address once the change is done.
    EmailChanged {
        new_email_masked: String,
    },
    /// Prove a backup address.
    BackupEmailVerify {
        link: String,
    },
    /// A log-in from a device (address and browser) never seen on this account.
    NewLogin {
        ip: String,
        user_agent: String,
        at: String,
    },
    /// A security setting changed (`totp_enabled`, `totp_disabled`,
    /// `backup_codes_regenerated`, `phone_changed`, `backup_email_changed`, `api_token_created`).
    SecurityChange {
        change: String,
    },
    /// Sent to the backup address: prove it to recover a lost second factor.
    FactorRecoveryVerify {
        link: String,
    },
    /// Sent to both addresses: the second factor will be removed at `effective_at`.
    FactorRecoveryScheduled {
        effective_at: String,
        cancel_link: String,
    },
    /// Orders and services.
    Order(super::order_mail::OrderMail),
    /// Renewals and dunning.
    Lifecycle(super::lifecycle_mail::LifecycleMail),
    /// Support tickets and account closure.
    Support(super::support_mail::SupportMail),
}

impl MailKind {
    /// The stable name stored with the mail (and shown in the log).
    pub fn name(&self) -> &'static str {
        match self {
            MailKind::VerifyEmail { .. } => "verify_email",
            MailKind::PasswordReset { .. } => "password_reset",
            MailKind::PasswordResetToBackupNotice { .. } => "password_reset_backup_notice",
            MailKind::PasswordChanged => "password_changed",
            MailKind::EmailChangeConfirm { .. } => "email_change_confirm",
            MailKind::EmailChangeRequested { .. } => "email_change_requested",
            MailKind::EmailChanged { .. } => "email_changed",
            MailKind::BackupEmailVerify { .. } => "backup_email_verify",
            MailKind::NewLogin { .. } => "new_login",
            MailKind::SecurityChange { .. } => "security_change",
            MailKind::FactorRecoveryVerify { .. } => "factor_recovery_verify",
            MailKind::FactorRecoveryScheduled { .. } => "factor_recovery_scheduled",
            MailKind::Order(m) => m.name(),
            MailKind::Lifecycle(m) => m.name(),
            MailKind::Support(m) => m.name(),
        }
    }

    pub(super) fn content(&self, lang: Language, first_name: &str, provider: &str) -> Content {
        let fr = lang == Language::Fr;
        let greeting = if fr {
            format!("Bonjour {first_name},")
        } else {
            format!("Hello {first_name},")
        };
        let not_you_fr = "Si vous n'êtes pas à l'origine de cette demande, ignorez ce message et \
                          vérifiez la sécurité de votre compte.";
        let not_you_en = "If you did not ask for this, ignore this message and check the \
                          security of your account.";
        let not_you = if fr { not_you_fr } else { not_you_en }.to_owned();
        let (subject, paragraphs, action, after) = match self {
            MailKind::Order(m) => m.parts(lang),
            MailKind::Lifecycle(m) => m.parts(lang),
            MailKind::Support(m) => m.parts(lang),
            MailKind::VerifyEmail { link } => {
                if fr {
                    (
                        format!("Confirmez votre adresse e-mail — {provider}"),
                        vec![format!(
                            "Bienvenue chez {provider}. Pour activer votre compte, confirmez \
                             votre adresse e-mail. Le lien est valable 48 heures."
                        )],
                        Some(("Confirmer mon adresse".to_owned(), link.clone())),
                        vec![not_you],
                    )
                } else {
                    (
                        format!("Confirm your e-mail address — {provider}"),
                        vec![format!(
                            "Welcome to {provider}. To activate your account, confirm your \
                             e-mail address. The link is valid for 48 hours."
                        )],
                        Some(("Confirm my address".to_owned(), link.clone())),
                        vec![not_you],
                    )
                }
            }
            MailKind::PasswordReset { link, minutes } => {
                if fr {
                    (
                        "Réinitialisation de votre mot de passe".to_owned(),
                        vec![format!(
                            "Une réinitialisation du mot de passe de votre compte a été \
                             demandée. Le lien ci-dessous est valable {minutes} minutes et ne \
                             sert qu'une fois. Toutes vos sessions seront fermées."
                        )],
                        Some(("Choisir un nouveau mot de passe".to_owned(), link.clone())),
                        vec![not_you],
                    )
                } else {
                    (
                        "Resetting your password".to_owned(),
                        vec![format!(
                            "Someone asked to reset the password of your account. The link \
                             below is valid for {minutes} minutes and works once. Every open \
                             session will be closed."
                        )],
                        Some(("Choose a new password".to_owned(), link.clone())),
                        vec![not_you],
                    )
                }
            }
            MailKind::PasswordResetToBackupNotice { backup_masked } => {
                if fr {
                    (
                        "Réinitialisation demandée via votre e-mail de secours".to_owned(),
                        vec![format!(
                            "Un lien de réinitialisation du mot de passe a été envoyé à votre \
                             adresse de secours {backup_masked}."
                        )],
                        None,
                        vec![not_you],
                    )
                } else {
                    (
                        "Password reset asked through your backup e-mail".to_owned(),
                        vec![format!(
                            "A password reset link was sent to your backup address \
                             {backup_masked}."
                        )],
                        None,
                        vec![not_you],
                    )
                }
            }
            MailKind::PasswordChanged => {
                if fr {
                    (
                        "Votre mot de passe a été modifié".to_owned(),
                        vec![
                            "Le mot de passe de votre compte vient d'être modifié et toutes vos \
                              sessions ont été fermées."
                                .to_owned(),
                        ],
                        None,
                        vec![
                            "Si vous n'êtes pas à l'origine de ce changement, réinitialisez \
                              votre mot de passe immédiatement et contactez le support."
                                .to_owned(),
                        ],
                    )
                } else {
                    (
                        "Your password was changed".to_owned(),
                        vec![
                            "The password of your account was just changed and every session \
                              was closed."
                                .to_owned(),
                        ],
                        None,
                        vec![
                            "If you did not make this change, reset your password at once and \
                              contact support."
                                .to_owned(),
                        ],
                    )
                }
            }
            MailKind::EmailChangeConfirm { link, new_email } => {
                if fr {
                    (
                        "Confirmez votre nouvelle adresse e-mail".to_owned(),
                        vec![format!(
                            "Vous avez demandé à utiliser {new_email} comme adresse principale \
                             de votre compte. Confirmez-la avec le lien ci-dessous, valable 48 \
                             heures."
                        )],
                        Some(("Confirmer cette adresse".to_owned(), link.clone())),
                        vec![not_you],
                    )
                } else {
                    (
                        "Confirm your new e-mail address".to_owned(),
                        vec![format!(
                            "You asked to use {new_email} as the primary address of your \
                             account. Confirm it with the link below, valid for 48 hours."
                        )],
                        Some(("Confirm this address".to_owned(), link.clone())),
                        vec![not_you],
                    )
                }
            }
            MailKind::EmailChangeRequested { new_email_masked } => {
                if fr {
                    (
                        "Changement d'adresse e-mail demandé".to_owned(),
                        vec![format!(
                            "Un changement de l'adresse principale de votre compte vers \
                             {new_email_masked} a été demandé. Il prendra effet lorsque la \
                             nouvelle adresse sera confirmée."
                        )],
                        None,
                        vec![not_you],
                    )
                } else {
                    (
                        "E-mail address change requested".to_owned(),
                        vec![format!(
                            "A change of your account's primary address to {new_email_masked} \
                             was asked for. It takes effect once the new address is confirmed."
                        )],
                        None,
                        vec![not_you],
                    )
                }
            }
            MailKind::EmailChanged { new_email_masked } => {
                if fr {
                    (
                        "Votre adresse e-mail a été modifiée".to_owned(),
                        vec![format!(
                            "L'adresse principale de votre compte est désormais \
                             {new_email_masked}. Les prochains e-mails seront envoyés à cette \
                             adresse."
                        )],
                        None,
                        vec![
                            "Si vous n'êtes pas à l'origine de ce changement, contactez le \
                              support immédiatement."
                                .to_owned(),
                        ],
                    )
                } else {
                    (
                        "Your e-mail address was changed".to_owned(),
                        vec![format!(
                            "The primary address of your account is now {new_email_masked}. \
                             Future e-mails will go to that address."
                        )],
                        None,
                        vec![
                            "If you did not make this change, contact support at once.".to_owned(),
                        ],
                    )
                }
            }
            MailKind::BackupEmailVerify { link } => {
                if fr {
                    (
                        "Confirmez votre adresse e-mail de secours".to_owned(),
                        vec![
                            "Cette adresse a été ajoutée comme e-mail de secours d'un compte \
                              client. Elle vous permettra de récupérer l'accès au compte si \
                              vous perdez celui de votre adresse principale. Le lien est \
                              valable 48 heures."
                                .to_owned(),
                        ],
                        Some(("Confirmer l'adresse de secours".to_owned(), link.clone())),
                        vec![not_you],
                    )
                } else {
                    (
                        "Confirm your backup e-mail address".to_owned(),
                        vec![
                            "This address was added as the backup e-mail of a customer \
                              account. It lets you recover the account if you lose access to \
                              the primary address. The link is valid for 48 hours."
                                .to_owned(),
                        ],
                        Some(("Confirm the backup address".to_owned(), link.clone())),
                        vec![not_you],
                    )
                }
            }
            MailKind::NewLogin { ip, user_agent, at } => {
                if fr {
                    (
                        "Nouvelle connexion à votre compte".to_owned(),
                        vec![format!(
                            "Une connexion à votre compte a eu lieu depuis un appareil que nous ne \
                             connaissions pas : adresse {ip}, navigateur « {user_agent} », le {at} (UTC)."
                        )],
                        None,
                        vec!["Si ce n'était pas vous, changez votre mot de passe, fermez les autres \
                              sessions depuis la page Sécurité et activez la double authentification."
                            .to_owned()],
                    )
                } else {
                    (
                        "New sign-in to your account".to_owned(),
                        vec![format!(
                            "Your account was signed in to from a device we had not seen before: \
                             address {ip}, browser \"{user_agent}\", at {at} (UTC)."
                        )],
                        None,
                        vec![
                            "If this was not you, change your password, end the other sessions \
                              from the Security page and turn on two-factor authentication."
                                .to_owned(),
                        ],
                    )
                }
            }
            MailKind::FactorRecoveryVerify { link } => {
                if fr {
                    (
                        "Récupération de votre double authentification".to_owned(),
                        vec![
                            "Vous avez indiqué avoir perdu l'accès à votre application \
                              d'authentification. Confirmez la demande avec le lien ci-dessous \
                              et le code reçu par SMS. Le lien est valable 30 minutes."
                                .to_owned(),
                        ],
                        Some(("Confirmer la demande".to_owned(), link.clone())),
                        vec![not_you],
                    )
                } else {
                    (
                        "Recovering your two-factor authentication".to_owned(),
                        vec![
                            "You said you lost access to your authenticator app. Confirm the \
                              request with the link below and the code texted to your phone. \
                              The link is valid for 30 minutes."
                                .to_owned(),
                        ],
                        Some(("Confirm the request".to_owned(), link.clone())),
                        vec![not_you],
                    )
                }
            }
            MailKind::FactorRecoveryScheduled {
                effective_at,
                cancel_link,
            } => {
                if fr {
                    (
                        "Votre double authentification sera retirée".to_owned(),
                        vec![format!(
                            "Une récupération de la double authentification de votre compte a \
                             été confirmée. Sauf annulation, elle sera retirée le {effective_at} \
                             (UTC) ; vous pourrez alors vous connecter avec votre seul mot de \
                             passe et en configurer une nouvelle."
                        )],
                        Some(("Ce n'est pas moi : annuler".to_owned(), cancel_link.clone())),
                        vec![],
                    )
                } else {
                    (
                        "Your two-factor authentication will be removed".to_owned(),
                        vec![format!(
                            "A recovery of your account's two-factor authentication was \
                             confirmed. Unless cancelled, it will be removed at {effective_at} \
                             (UTC); you will then sign in with your password alone and can set \
                             up a new factor."
                        )],
                        Some(("This was not me: cancel".to_owned(), cancel_link.clone())),
                        vec![],
                    )
                }
            }
            MailKind::SecurityChange { change } => {
                let what = match (change.as_str(), fr) {
                    ("totp_enabled", true) => {
                        "la double authentification par application a été activée"
                    }
                    ("totp_enabled", false) => {
                        "two-factor authentication with an app was turned on"
                    }
                    ("totp_disabled", true) => {
                        "la double authentification par application a été désactivée"
                    }
                    ("totp_disabled", false) => {
                        "two-factor authentication with an app was turned off"
                    }
                    ("backup_codes_regenerated", true) => {
                        "de nouveaux codes de secours ont été générés (les anciens ne fonctionnent plus)"
                    }
                    ("backup_codes_regenerated", false) => {
                        "new backup codes were generated (the old ones no longer work)"
                    }
                    ("phone_changed", true) => "le numéro de téléphone mobile a été modifié",
                    ("phone_changed", false) => "the mobile phone number was changed",
                    ("backup_email_changed", true) => "l'adresse e-mail de secours a été modifiée",
                    ("backup_email_changed", false) => "the backup e-mail address was changed",
                    ("api_token_created", true) => "un jeton d'API personnel a été créé",
                    ("api_token_created", false) => "a personal API token was created",
                    ("factor_recovery_cancelled", true) => {
                        "la récupération de la double authentification a été annulée"
                    }
                    ("factor_recovery_cancelled", false) => {
                        "the recovery of two-factor authentication was cancelled"
                    }
                    ("factor_recovery_applied", true) => {
                        "la double authentification a été retirée à l'issue de la procédure de récupération"
                    }
                    ("factor_recovery_applied", false) => {
                        "two-factor authentication was removed at the end of the recovery procedure"
                    }
                    (_, true) => "un réglage de sécurité a été modifié",
                    (_, false) => "a security setting was changed",
                };
                if fr {
                    (
                        "Modification de la sécurité de votre compte".to_owned(),
                        vec![format!("Sur votre compte, {what}.")],
                        None,
                        vec![not_you],
                    )
                } else {
                    (
                        "A security change on your account".to_owned(),
                        vec![format!("On your account, {what}.")],
                        None,
                        vec![not_you],
                    )
                }
            }
        };
        Content {
            subject,
            greeting,
            paragraphs,
            action,
            after,
        }
    }
}

/// `zoe.martin@example.fr` → `z•••@example.fr`, for notices sent to another address.
pub fn mask_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}•••@{domain}")
        }
        None => "•••".to_owned(),
    }
}
