// @ts-check
/**
 * Names of the MITRE ATT&CK (Enterprise) techniques and tactics that rules tag alerts with
 * (`T1059.004`, `mitre_execution`), for the alert detail: every technique and tactic tagged in
 * Saker's default rules and in Falco's stable, incubating and sandbox rules. A tag not listed
 * is shown as it is.
 * @module
 */

/** Technique id → name. */
export const TECHNIQUES = /** @type {Record<string, string>} */ ({
  "T1003.008": "OS Credential Dumping: /etc/passwd and /etc/shadow",
  "T1005": "Data from Local System",
  "T1014": "Rootkit",
  "T1020": "Automated Exfiltration",
  "T1036.005": "Masquerading: Match Legitimate Name or Location",
  "T1037": "Boot or Logon Initialization Scripts",
  "T1040": "Network Sniffing",
  "T1046": "Network Service Discovery",
  "T1053.003": "Scheduled Task/Job: Cron",
  "T1055.008": "Process Injection: Ptrace System Calls",
  "T1055.009": "Process Injection: Proc Memory",
  "T1059": "Command and Scripting Interpreter",
  "T1059.004": "Command and Scripting Interpreter: Unix Shell",
  "T1070": "Indicator Removal",
  "T1070.002": "Indicator Removal: Clear Linux or Mac System Logs",
  "T1070.003": "Indicator Removal: Clear Command History",
  "T1071": "Application Layer Protocol",
  "T1072": "Software Deployment Tools",
  "T1078.003": "Valid Accounts: Local Accounts",
  "T1083": "File and Directory Discovery",
  "T1095": "Non-Application Layer Protocol",
  "T1098": "Account Manipulation",
  "T1098.004": "Account Manipulation: SSH Authorized Keys",
  "T1105": "Ingress Tool Transfer",
  "T1132": "Data Encoding",
  "T1190": "Exploit Public-Facing Application",
  "T1195.002": "Supply Chain Compromise: Compromise Software Supply Chain",
  "T1204": "User Execution",
  "T1205.001": "Traffic Signaling: Port Knocking",
  "T1222": "File and Directory Permissions Modification",
  "T1222.002": "File and Directory Permissions Modification: Linux and Mac File and " +
    "Directory Permissions Modification",
  "T1485": "Data Destruction",
  "T1490": "Inhibit System Recovery",
  "T1496": "Resource Hijacking",
  "T1498": "Network Denial of Service",
  "T1505": "Server Software Component",
  "T1505.003": "Server Software Component: Web Shell",
  "T1543": "Create or Modify System Process",
  "T1546.004": "Event Triggered Execution: Unix Shell Configuration Modification",
  "T1547.006": "Boot or Logon Autostart Execution: Kernel Modules and Extensions",
  "T1548.001": "Abuse Elevation Control Mechanism: Setuid and Setgid",
  "T1548.003": "Abuse Elevation Control Mechanism: Sudo and Sudo Caching",
  "T1552": "Unsecured Credentials",
  "T1552.001": "Unsecured Credentials: Credentials In Files",
  "T1552.004": "Unsecured Credentials: Private Keys",
  "T1552.005": "Unsecured Credentials: Cloud Instance Metadata API",
  "T1554": "Compromise Host Software Binary",
  "T1555": "Credentials from Password Stores",
  "T1556": "Modify Authentication Process",
  "T1556.003": "Modify Authentication Process: Pluggable Authentication Modules",
  "T1557.002": "Adversary-in-the-Middle: ARP Cache Poisoning",
  "T1561": "Disk Wipe",
  "T1562": "Impair Defenses",
  "T1564": "Hide Artifacts",
  "T1564.001": "Hide Artifacts: Hidden Files and Directories",
  "T1565": "Data Manipulation",
  "T1567": "Exfiltration Over Web Service",
  "T1571": "Non-Standard Port",
  "T1572": "Protocol Tunneling",
  "T1574.006": "Hijack Execution Flow: Dynamic Linker Hijacking",
  "T1609": "Container Administration Command",
  "T1610": "Deploy Container",
  "T1611": "Escape to Host",
  "T1613": "Container and Resource Discovery",
  "T1620": "Reflective Code Loading",
  "T1622": "Debugger Evasion",
});

/** Tactic tag → tactic id and name. */
export const TACTICS = /** @type {Record<string, string>} */ ({
  mitre_reconnaissance: "TA0043 Reconnaissance",
  mitre_resource_development: "TA0042 Resource Development",
  mitre_initial_access: "TA0001 Initial Access",
  mitre_execution: "TA0002 Execution",
  mitre_persistence: "TA0003 Persistence",
  mitre_privilege_escalation: "TA0004 Privilege Escalation",
  mitre_defense_evasion: "TA0005 Defense Evasion",
  mitre_credential_access: "TA0006 Credential Access",
  mitre_discovery: "TA0007 Discovery",
  mitre_lateral_movement: "TA0008 Lateral Movement",
  mitre_collection: "TA0009 Collection",
  mitre_command_and_control: "TA0011 Command and Control",
  mitre_exfiltration: "TA0010 Exfiltration",
  mitre_impact: "TA0040 Impact",
  // Falco's sandbox rules use this name for Impact's data destruction.
  mitre_data_destruction: "TA0040 Impact (data destruction)",
});

/**
 * The ATT&CK name a tag stands for, or undefined.
 * @param {string} tag
 */
export function mitreName(tag) {
  return TECHNIQUES[tag.toUpperCase()] ?? TACTICS[tag.toLowerCase()];
}
