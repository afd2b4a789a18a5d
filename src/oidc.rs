//! Signing in through an OpenID Connect provider: the authorization code flow with PKCE, `state` and `nonce`,
//! by the `openidconnect` crate (discovery, the authorization URL, the code's exchange, and the ID token's checks:
//! its signature against the provider's published keys, issuer, audience, expiry and nonce).
//!
//! This module speaks the protocol only; the web UI (`web/oidc.rs`) keeps a sign-in's state between its start
//! and the provider's answer, and decides what an identity may open. The provider's HTTP goes through reqwest,
//! without redirects, with a timeout.

use std::time::{Duration, Instant};

use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl,
    RequestTokenError, Scope, TokenResponse as _,
};
use serde::Deserialize;

/// One provider, as the operator configures it (`[[oidc]]` in the configuration file).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// A short name of letters, digits and `-`: the provider's part of the callback address
    /// (`<public_url>/sign-in/oidc/<id>/callback`, to register at the provider).
    pub id: String,
    /// The name on the sign-in button ("EduConnect").
    pub name: String,
    /// The issuer's URL; its discovery document is `<issuer>/.well-known/openid-configuration`.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    /// Scopes besides `openid`.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// The claim that identifies a person: `sub` (the default), `email` (when verified) or `preferred_username`.
    #[serde(default = "default_claim")]
    pub claim: String,
}

fn default_claim() -> String {
    "sub".to_owned()
}

impl ProviderConfig {
    /// Checks what can be checked without the network.
    pub fn check(&self) -> Result<(), String> {
        if self.id.is_empty() || self.id.len() > 32 || !self.id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
            return Err(format!("an oidc provider's id must be 1 to 32 lowercase letters, digits or `-` (not `{}`)", self.id));
        }
        if self.name.trim().is_empty() {
            return Err(format!("the oidc provider `{}` needs a name", self.id));
        }
        IssuerUrl::new(self.issuer.clone()).map_err(|_| format!("the issuer of the oidc provider `{}` is not a URL", self.id))?;
        if !(self.issuer.starts_with("https://") || self.issuer.starts_with("http://127.0.0.1") || self.issuer.starts_with("http://localhost")) {
            return Err(format!("the issuer of the oidc provider `{}` must be https:// (plain http only on this machine)", self.id));
        }
        if self.client_id.is_empty() || self.client_secret.is_empty() {
            return Err(format!("the oidc provider `{}` needs a client_id and a client_secret", self.id));
        }
        if !["sub", "email", "preferred_username"].contains(&self.claim.as_str()) {
            return Err(format!("the claim of the oidc provider `{}` must be sub, email or preferred_username", self.id));
        }
        Ok(())
    }
}

/// What went wrong with a provider's answer, in kinds a person can be told apart.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OidcError {
    #[error("no such provider")]
    UnknownProvider,
    #[error("the provider could not be reached or answered something else than OpenID Connect")]
    Unreachable,
    #[error("the provider refused the code (used already, expired, or not for this sign-in)")]
    CodeRefused,
    #[error("the provider's answer has no ID token")]
    NoIdToken,
    #[error("the ID token has expired")]
    Expired,
    #[error("the ID token is not for this sign-in (nonce)")]
    WrongNonce,
    #[error("the ID token's signature, issuer or audience is wrong")]
    Forged,
    #[error("the ID token does not say who this is (claim `{0}`)")]
    MissingClaim(String),
}

/// A sign-in sent to its provider: where to send the browser, and what its answer is checked against.
pub struct Started {
    pub url: String,
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
}

struct Provider {
    config: ProviderConfig,
    redirect: RedirectUrl,
    /// The discovery document and the keys it points to, fetched when first needed.
    metadata: tokio::sync::Mutex<Option<(Instant, CoreProviderMetadata)>>,
}

/// The configured providers.
pub struct Providers {
    list: Vec<Provider>,
    http: Http,
}

/// How long discovery (and the keys) are kept before they are fetched again.
const METADATA_TTL: Duration = Duration::from_secs(15 * 60);

/// The provider's HTTP: our reqwest, never following a redirect (the endpoints are the discovery document's).
#[derive(Clone)]
struct Http(reqwest::Client);

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct HttpError(String);

impl<'c> openidconnect::AsyncHttpClient<'c> for Http {
    type Error = HttpError;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<openidconnect::HttpResponse, HttpError>> + Send + 'c>>;

    fn call(&'c self, request: openidconnect::HttpRequest) -> Self::Future {
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let response = self
                .0
                .request(parts.method, parts.uri.to_string())
                .headers(parts.headers)
                .body(body)
                .send()
                .await
                .map_err(|e| HttpError(e.to_string()))?;
            let mut builder = axum::http::Response::builder().status(response.status());
            for (name, value) in response.headers() {
                builder = builder.header(name, value);
            }
            // Discovery documents, keys and token answers are small.
            let body = response.bytes().await.map_err(|e| HttpError(e.to_string()))?;
            if body.len() > 1 << 20 {
                return Err(HttpError("the provider's answer is too large".to_owned()));
            }
            builder.body(body.to_vec()).map_err(|e| HttpError(e.to_string()))
        })
    }
}

impl Providers {
    /// The providers of the configuration, each answering at `<public_url>/sign-in/oidc/<id>/callback`.
    pub fn new(configs: &[ProviderConfig], public_url: &str) -> Result<Providers, String> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| format!("the HTTP client for the oidc providers could not be made: {e}"))?;
        let mut list = Vec::with_capacity(configs.len());
        for config in configs {
            config.check()?;
            if list.iter().any(|p: &Provider| p.config.id == config.id) {
                return Err(format!("two oidc providers have the id `{}`", config.id));
            }
            let redirect = RedirectUrl::new(format!("{public_url}/sign-in/oidc/{}/callback", config.id)).map_err(|e| e.to_string())?;
            list.push(Provider { config: config.clone(), redirect, metadata: tokio::sync::Mutex::new(None) });
        }
        Ok(Providers { list, http: Http(http) })
    }

    /// No provider.
    pub fn none() -> Providers {
        Providers { list: Vec::new(), http: Http(reqwest::Client::new()) }
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The configured providers, in the configuration's order.
    pub fn configs(&self) -> impl Iterator<Item = &ProviderConfig> {
        self.list.iter().map(|p| &p.config)
    }

    pub fn config(&self, id: &str) -> Option<&ProviderConfig> {
        self.provider(id).ok().map(|p| &p.config)
    }

    fn provider(&self, id: &str) -> Result<&Provider, OidcError> {
        self.list.iter().find(|p| p.config.id == id).ok_or(OidcError::UnknownProvider)
    }

    /// The provider's discovery document and keys: kept, or fetched again when old or when `fresh` asks.
    async fn metadata(&self, provider: &Provider, fresh: bool) -> Result<CoreProviderMetadata, OidcError> {
        let mut kept = provider.metadata.lock().await;
        if let Some((at, metadata)) = kept.as_ref()
            && !fresh
            && at.elapsed() < METADATA_TTL
        {
            return Ok(metadata.clone());
        }
        let issuer = IssuerUrl::new(provider.config.issuer.clone()).map_err(|_| OidcError::Unreachable)?;
        let metadata = CoreProviderMetadata::discover_async(issuer, &self.http).await.map_err(|e| {
            tracing::warn!(provider = %provider.config.id, error = %e, "the provider's discovery failed");
            OidcError::Unreachable
        })?;
        *kept = Some((Instant::now(), metadata.clone()));
        Ok(metadata)
    }

    fn client(provider: &Provider, metadata: CoreProviderMetadata) -> CoreClient<
        openidconnect::EndpointSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointMaybeSet,
        openidconnect::EndpointMaybeSet,
    > {
        CoreClient::from_provider_metadata(metadata, ClientId::new(provider.config.client_id.clone()), Some(ClientSecret::new(provider.config.client_secret.clone())))
            .set_redirect_uri(provider.redirect.clone())
    }

    /// Starts a sign-in: a fresh state, nonce and PKCE verifier (S256), and the provider's authorization URL.
    pub async fn start(&self, id: &str) -> Result<Started, OidcError> {
        let provider = self.provider(id)?;
        let client = Self::client(provider, self.metadata(provider, false).await?);
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client.authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random).set_pkce_challenge(challenge);
        for scope in &provider.config.scopes {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, state, nonce) = request.url();
        Ok(Started { url: url.to_string(), state: state.secret().clone(), nonce: nonce.secret().clone(), pkce_verifier: verifier.secret().clone() })
    }

    /// Finishes a sign-in: exchanges the code (with the PKCE verifier), checks the ID token against the provider's
    /// keys and this sign-in's nonce, and returns the configured claim: who this is at the provider.
    pub async fn finish(&self, id: &str, code: &str, pkce_verifier: &str, nonce: &str) -> Result<String, OidcError> {
        let provider = self.provider(id)?;
        let client = Self::client(provider, self.metadata(provider, false).await?);
        let exchange = client.exchange_code(AuthorizationCode::new(code.to_owned())).map_err(|_| OidcError::Unreachable)?;
        let token = exchange.set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_owned())).request_async(&self.http).await.map_err(|e| match e {
            RequestTokenError::ServerResponse(answer) => {
                tracing::info!(provider = %id, error = %answer.error(), "the provider refused the code");
                OidcError::CodeRefused
            }
            other => {
                tracing::warn!(provider = %id, error = ?other, "the provider's token endpoint failed");
                OidcError::Unreachable
            }
        })?;
        let id_token = token.id_token().ok_or(OidcError::NoIdToken)?;
        let nonce = Nonce::new(nonce.to_owned());
        let claims = match id_token.claims(&client.id_token_verifier(), &nonce) {
            Ok(claims) => claims.clone(),
            // The provider may have rolled its keys since they were fetched: once more with fresh ones.
            Err(ClaimsVerificationError::SignatureVerification(_)) => {
                let fresh = Self::client(provider, self.metadata(provider, true).await?);
                id_token.claims(&fresh.id_token_verifier(), &nonce).map_err(refusal)?.clone()
            }
            Err(e) => return Err(refusal(e)),
        };
        let claim = &provider.config.claim;
        let value = match claim.as_str() {
            "email" => claims.email().filter(|_| claims.email_verified() == Some(true)).map(|e| e.as_str().to_lowercase()),
            "preferred_username" => claims.preferred_username().map(|u| u.as_str().to_owned()),
            _ => Some(claims.subject().as_str().to_owned()),
        };
        value.filter(|v| !v.is_empty()).ok_or_else(|| OidcError::MissingClaim(claim.clone()))
    }
}

fn refusal(e: ClaimsVerificationError) -> OidcError {
    tracing::info!(error = %e, "an ID token was refused");
    match e {
        ClaimsVerificationError::Expired(_) => OidcError::Expired,
        ClaimsVerificationError::InvalidNonce(_) => OidcError::WrongNonce,
        _ => OidcError::Forged,
    }
}
