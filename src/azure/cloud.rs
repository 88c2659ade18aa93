//! Azure clouds: where to get tokens, where ARM is, and which audience the token is for.

use std::fmt;
use std::str::FromStr;

use url::Url;

use super::error::ArmError;

/// The scope of storage tokens, in every cloud (the audience `https://storage.azure.com`).
pub const STORAGE_SCOPE: &str = "https://storage.azure.com/.default";

/// The endpoints of one Azure cloud.
#[derive(Clone, PartialEq, Eq)]
pub struct Cloud {
    /// `AzurePublic`, `AzureUSGovernment`, `AzureChina` or `Custom`.
    pub name: String,
    /// Microsoft Entra authority host; the token URL is `{authority_host}{tenant}/oauth2/v2.0/token`.
    pub authority_host: Url,
    /// ARM base URL.
    pub arm_endpoint: Url,
    /// OAuth scope of ARM tokens: the audience followed by `/.default`.
    pub token_scope: String,
    /// The same audience in the resource form IMDS expects (`https://management.azure.com/`).
    pub imds_resource: String,
}

impl fmt::Debug for Cloud {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cloud")
            .field("name", &self.name)
            .field("authority_host", &self.authority_host.as_str())
            .field("arm_endpoint", &self.arm_endpoint.as_str())
            .field("token_scope", &self.token_scope)
            .field("imds_resource", &self.imds_resource)
            .finish()
    }
}

fn url(s: &str) -> Url {
    Url::parse(s).expect("preset URLs are valid")
}

impl Cloud {
    /// Azure public cloud: `login.microsoftonline.com`, `management.azure.com`.
    pub fn azure_public() -> Cloud {
        Cloud::preset("AzurePublic", "https://login.microsoftonline.com/", "https://management.azure.com/")
    }

    /// Azure US Government: `login.microsoftonline.us`, `management.usgovcloudapi.net`.
    pub fn azure_us_government() -> Cloud {
        Cloud::preset("AzureUSGovernment", "https://login.microsoftonline.us/", "https://management.usgovcloudapi.net/")
    }

    /// Azure operated by 21Vianet (China): `login.chinacloudapi.cn`, `management.chinacloudapi.cn`.
    pub fn azure_china() -> Cloud {
        Cloud::preset("AzureChina", "https://login.chinacloudapi.cn/", "https://management.chinacloudapi.cn/")
    }

    fn preset(name: &str, authority_host: &str, arm_endpoint: &str) -> Cloud {
        let mut cloud = Cloud::custom(url(authority_host), url(arm_endpoint), None);
        cloud.name = name.to_string();
        cloud
    }

    /// Any other cloud (Azure Stack, a simulator). The token audience defaults to the ARM endpoint.
    pub fn custom(authority_host: Url, arm_endpoint: Url, audience: Option<&str>) -> Cloud {
        let audience = audience.map(str::to_string).unwrap_or_else(|| arm_endpoint.as_str().to_string());
        let audience = audience.trim_end_matches("/.default").trim_end_matches('/');
        Cloud {
            name: "Custom".into(),
            authority_host: super::credential::with_trailing_slash(&authority_host),
            arm_endpoint: super::credential::with_trailing_slash(&arm_endpoint),
            token_scope: format!("{audience}/.default"),
            imds_resource: format!("{audience}/"),
        }
    }

    /// The same cloud with storage's token audience (`https://storage.azure.com/`, in every cloud), for blob reads.
    pub fn for_storage(&self) -> Cloud {
        let mut cloud = self.clone();
        cloud.token_scope = STORAGE_SCOPE.to_string();
        cloud.imds_resource = "https://storage.azure.com/".to_string();
        cloud
    }

    /// `public`, `usgovernment` or `china` (case-insensitive; the Azure CLI's names `AzureCloud`,
    /// `AzureUSGovernment`, `AzureChinaCloud` work too).
    pub fn from_name(name: &str) -> Result<Cloud, ArmError> {
        let key: String = name.chars().filter(|c| !matches!(c, ' ' | '-' | '_')).collect::<String>().to_lowercase();
        match key.as_str() {
            "public" | "azure" | "azurecloud" | "azurepublic" | "azurepubliccloud" => Ok(Cloud::azure_public()),
            "usgovernment" | "usgov" | "azureusgovernment" | "azureusgovernmentcloud" => {
                Ok(Cloud::azure_us_government())
            }
            "china" | "azurechina" | "azurechinacloud" => Ok(Cloud::azure_china()),
            _ => Err(ArmError::Config(format!("unknown Azure cloud {name:?}: expected public, usgovernment or china"))),
        }
    }
}

impl Default for Cloud {
    fn default() -> Self {
        Cloud::azure_public()
    }
}

impl FromStr for Cloud {
    type Err = ArmError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Cloud::from_name(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_have_the_published_endpoints() {
        let public = Cloud::from_name("public").unwrap();
        assert_eq!(public.authority_host.as_str(), "https://login.microsoftonline.com/");
        assert_eq!(public.arm_endpoint.as_str(), "https://management.azure.com/");
        assert_eq!(public.token_scope, "https://management.azure.com/.default");
        assert_eq!(public.imds_resource, "https://management.azure.com/");

        let gov = Cloud::from_name("USGovernment").unwrap();
        assert_eq!(gov.authority_host.as_str(), "https://login.microsoftonline.us/");
        assert_eq!(gov.arm_endpoint.as_str(), "https://management.usgovcloudapi.net/");
        assert_eq!(gov.token_scope, "https://management.usgovcloudapi.net/.default");

        let china: Cloud = "china".parse().unwrap();
        assert_eq!(china.authority_host.as_str(), "https://login.chinacloudapi.cn/");
        assert_eq!(china.arm_endpoint.as_str(), "https://management.chinacloudapi.cn/");
        assert_eq!(china.token_scope, "https://management.chinacloudapi.cn/.default");
        assert_eq!(china.imds_resource, "https://management.chinacloudapi.cn/");
        assert_eq!(Cloud::from_name("AzureChinaCloud").unwrap(), china);
    }

    #[test]
    fn unknown_names_are_refused_with_the_valid_ones() {
        let err = Cloud::from_name("germany").unwrap_err().to_string();
        assert!(err.contains("germany") && err.contains("usgovernment"), "{err}");
    }

    #[test]
    fn custom_clouds_derive_scope_and_resource_from_the_audience() {
        let sim = Cloud::custom(url("http://127.0.0.1:8480"), url("http://127.0.0.1:8480"), None);
        assert_eq!(sim.authority_host.as_str(), "http://127.0.0.1:8480/");
        assert_eq!(sim.token_scope, "http://127.0.0.1:8480/.default");
        let stack = Cloud::custom(
            url("https://adfs.local/adfs"),
            url("https://management.local.azurestack.external/"),
            Some("https://management.adfs.azurestack.local/abc/.default"),
        );
        assert_eq!(stack.authority_host.as_str(), "https://adfs.local/adfs/");
        assert_eq!(stack.token_scope, "https://management.adfs.azurestack.local/abc/.default");
        assert_eq!(stack.imds_resource, "https://management.adfs.azurestack.local/abc/");
    }
}
